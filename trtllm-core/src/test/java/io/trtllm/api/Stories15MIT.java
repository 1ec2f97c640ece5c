package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The builtin stories15M model end to end through {@link LLM}: greedy parity with Hugging Face
 * transformers ({@code reference/stories15M-greedy.json}, made by
 * {@code scripts/reference/stories15m_reference.py} from the checkpoint our converter writes), and
 * the argument checks.
 */
class Stories15MIT {
    static LLM llm;
    static JsonNode reference;

    @BeforeAll
    static void load() throws IOException {
        try (InputStream in = Stories15MIT.class.getResourceAsStream("/reference/stories15M-greedy.json")) {
            assertThat(in).as("reference/stories15M-greedy.json (made by scripts/reference/stories15m_reference.py)").isNotNull();
            reference = new ObjectMapper().readTree(in);
        }
        llm = new LLM(LlmArgs.builder("stories15M").build());
    }

    @AfterAll
    static void close() {
        if (llm != null) {
            llm.close();
        }
    }

    static int[] ints(JsonNode node) {
        int[] out = new int[node.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = node.get(i).asInt();
        }
        return out;
    }

    @Test
    void promptTokenizesAsTransformersDoes() {
        RequestOutput out = llm.generate("Once upon a time", SamplingParams.greedy(1));
        assertThat(out.promptTokenIds()).containsExactly(ints(reference.get("prompt_ids")));
        assertThat(out.promptTokenIds()).containsExactly(1, 9038, 2501, 263, 931);
    }

    @Test
    void greedyFirst64TokensEqualTransformers() {
        int[] expected = Arrays.copyOf(ints(reference.get("greedy_ids")), 64);
        RequestOutput out = llm.generate("Once upon a time", SamplingParams.greedy(64));
        assertThat(out.output().tokenIds()).containsExactly(expected);
        assertThat(out.output().finishReason()).isEqualTo(CompletionOutput.LENGTH);
        assertThat(reference.get("greedy_text").asText()).startsWith(out.output().text());
        assertThat(out.output().text()).startsWith(", there was a little girl named Lily.");
    }

    @Test
    void theOutputReadsAsItDoesAfterThePrompt() {
        // SentencePiece drops the leading space of the first token of a decode: decoded alone, the output
        // would be "was walking in the". After the prompt, as transformers and vLLM give it, it is not.
        assertThat(llm.generate("The cat", SamplingParams.greedy(4)).output().text()).isEqualTo(" was walking in the");
        List<String> pieces = new ArrayList<>();
        RequestOutput streamed = llm.generate("The cat", SamplingParams.greedy(4), pieces::add);
        assertThat(String.join("", pieces)).isEqualTo(" was walking in the").isEqualTo(streamed.output().text());
    }

    @Test
    void streamedPiecesConcatenateToTheText() {
        List<String> pieces = new ArrayList<>();
        RequestOutput out = llm.generate("Once upon a time", SamplingParams.greedy(40), pieces::add);
        assertThat(String.join("", pieces)).isEqualTo(out.output().text());
        assertThat(pieces.size()).isGreaterThan(10);
        // Without a listener the text is decoded once at the end: the same text.
        assertThat(llm.generate("Once upon a time", SamplingParams.greedy(40)).output().text()).isEqualTo(out.output().text());
    }

    @Test
    void tokenIdPromptGivesTheSameTokens() {
        RequestOutput a = llm.generate("Once upon a time", SamplingParams.greedy(16));
        RequestOutput b = llm.generate(new int[] {1, 9038, 2501, 263, 931}, SamplingParams.greedy(16));
        assertThat(b.output().tokenIds()).containsExactly(a.output().tokenIds());
    }

    @Test
    void seededSamplingIsReproducibleAndDiffersFromGreedy() {
        var params = SamplingParams.builder().maxTokens(32).temperature(1.0f).topK(40).topP(0.9f).seed(7L).build();
        RequestOutput a = llm.generate("Once upon a time", params);
        RequestOutput b = llm.generate("Once upon a time", params);
        assertThat(a.output().tokenIds()).containsExactly(b.output().tokenIds());
        var other = SamplingParams.builder().maxTokens(32).temperature(1.0f).seed(8L).build();
        assertThat(llm.generate("Once upon a time", other).output().tokenIds()).isNotEqualTo(a.output().tokenIds());
    }

    @Test
    void stopTokenEndsGenerationAndIsNotInTheText() {
        // TinyStories separates stories with BOS (id 1): the first story ends before the second begins.
        var params = SamplingParams.builder().maxTokens(250).temperature(0).stopTokenIds(List.of(1)).build();
        RequestOutput out = llm.generate("Once upon a time", params);
        int[] ids = out.output().tokenIds();
        assertThat(out.output().finishReason()).isEqualTo(CompletionOutput.STOP);
        assertThat(ids[ids.length - 1]).isEqualTo(1);
        assertThat(ids.length).isLessThan(250);
        assertThat(out.output().text()).endsWith("they played together in the sunshine.");
    }

    @Test
    void endOfSequenceFromConfigStopsUnlessIgnored(@TempDir Path tmp) throws IOException {
        // The same model with eos_token_id 1 in its config.json: generation stops at the story's end.
        Path dir = llm.modelDirectory();
        for (String f : List.of("model.safetensors", "tokenizer.json", "tokenizer_config.json")) {
            Files.createSymbolicLink(tmp.resolve(f), dir.resolve(f));
        }
        Files.writeString(tmp.resolve("config.json"),
                Files.readString(dir.resolve("config.json")).replaceAll("\"eos_token_id\"\\s*:\\s*2", "\"eos_token_id\": 1"));
        try (var other = new LLM(LlmArgs.builder(tmp.toString()).build())) {
            RequestOutput stopped = other.generate("Once upon a time", SamplingParams.greedy(250));
            assertThat(stopped.output().finishReason()).isEqualTo(CompletionOutput.STOP);
            assertThat(stopped.output().text()).endsWith("sunshine.");
            var ignore = SamplingParams.builder().maxTokens(250).temperature(0).ignoreEos(true).build();
            RequestOutput ignored = other.generate("Once upon a time", ignore);
            assertThat(ignored.output().finishReason()).isEqualTo(CompletionOutput.LENGTH);
            assertThat(ignored.output().tokenIds()).hasSize(250);
        }
    }

    @Test
    void concurrentCallersEachGetTheirOwnCompleteResult() throws Exception {
        int[] expected = llm.generate("Once upon a time", SamplingParams.greedy(24)).output().tokenIds();
        try (var pool = java.util.concurrent.Executors.newFixedThreadPool(3)) {
            var futures = new ArrayList<java.util.concurrent.Future<RequestOutput>>();
            for (int i = 0; i < 3; i++) {
                futures.add(pool.submit(() -> llm.generate("Once upon a time", SamplingParams.greedy(24))));
            }
            for (var f : futures) {
                assertThat(f.get().output().tokenIds()).containsExactly(expected);
            }
        }
    }

    @Test
    void closeReleasesAndLaterCallsFailClearly() {
        var other = new LLM(LlmArgs.builder("stories15M").threads(2).build());
        long threadsBefore = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("trtllm-cpu")).count();
        other.close();
        other.close(); // idempotent
        assertThatThrownBy(() -> other.generate("Once upon a time", SamplingParams.greedy(4)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        assertThatThrownBy(() -> other.tokenizer().encode("hi", true))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        long threadsAfter = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("trtllm-cpu") && t.isAlive()).count();
        assertThat(threadsAfter).isLessThan(threadsBefore);
    }

    @Test
    void argumentChecksNameTheProblem() {
        assertThatThrownBy(() -> llm.generate("Once upon a time", SamplingParams.greedy(300)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("max_tokens (300)")
                .hasMessageContaining("max_seq_len 256");
        assertThatThrownBy(() -> llm.generate(new int[0], SamplingParams.greedy(3)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("prompt is empty");
        assertThatThrownBy(() -> llm.generate(new int[] {1, 32000}, SamplingParams.greedy(3)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("token id 32000");
        assertThatThrownBy(() -> SamplingParams.builder().temperature(-1).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("temperature");
        assertThatThrownBy(() -> SamplingParams.builder().topP(0).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("top_p");
        assertThatThrownBy(() -> new LLM(LlmArgs.builder("stories15M").maxSeqLen(512).build()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("max_seq_len 512").hasMessageContaining("max_position_embeddings 256");
        assertThatThrownBy(() -> new LLM(LlmArgs.builder("no/such/dir").build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no/such/dir");
        assertThatThrownBy(() -> LlmArgs.builder("stories15M").backend("tpu").build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("backend 'tpu'");
    }

    /** The tokenizer loads on its own thread while the engine is acquired; its failure is the constructor's. */
    @Test
    void aBrokenTokenizerFailsTheConstructorNamingTheFile(@TempDir Path tmp) throws IOException, InterruptedException {
        Files.writeString(tmp.resolve("tokenizer.json"), "{\"model\": 42}");
        assertThatThrownBy(() -> new LLM(LlmArgs.builder("stories15M").tokenizer(tmp).build()))
                .isInstanceOf(io.trtllm.model.ModelFormatException.class)
                .hasMessageContaining(tmp.resolve("tokenizer.json").toString());
        // And the engine's failure is the constructor's, the tokenizer thread ending on its own.
        assertThatThrownBy(() -> new LLM(LlmArgs.builder("stories15M").maxSeqLen(512).build()))
                .hasMessageContaining("max_seq_len 512");
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals("trtllm-tokenizer-load"))
                && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().equals("trtllm-tokenizer-load"));
    }
}
