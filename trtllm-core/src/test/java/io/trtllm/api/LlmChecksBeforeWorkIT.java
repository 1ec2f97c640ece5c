package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.BuildCacheConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What an {@link LLM} refuses before it spends work: a model without a usable tokenizer before its
 * engine is built, token ids outside the vocabulary before a request is queued; and how an empty
 * text prompt is handled (as TensorRT-LLM: tokenized with special tokens, so stories15M's is its BOS).
 */
class LlmChecksBeforeWorkIT {
    static LLM llm;

    @TempDir
    Path scratch;

    @BeforeAll
    static void load() {
        llm = new LLM(LlmArgs.builder("stories15M").threads(1).build());
    }

    @AfterAll
    static void close() {
        llm.close();
    }

    /** The tiny random-weight Llama of the parity tests: a checkpoint without tokenizer files. */
    private static Path tinyCheckpoint(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "generation_config.json", "model.safetensors")) {
            try (InputStream in = LlmChecksBeforeWorkIT.class.getResourceAsStream("/parity/llama3/" + f)) {
                assertThat(in).as(f).isNotNull();
                Files.copy(in, dir.resolve(f));
            }
        }
        return dir;
    }

    private LlmArgs args(Path model, Path cacheRoot) {
        return LlmArgs.builder(model.toString()).backend("cpu").threads(1)
                .buildCacheConfig(new BuildCacheConfig(cacheRoot, 10, BuildCacheConfig.DEFAULT_MAX_SIZE_BYTES)).build();
    }

    private static long entriesUnder(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> !p.getFileName().toString().equals(".locks")).count();
        }
    }

    @Test
    void aMissingTokenizerIsReportedBeforeTheEngineIsBuilt() throws IOException {
        Path model = tinyCheckpoint(scratch.resolve("model"));
        Path cache = scratch.resolve("cache");
        assertThatThrownBy(() -> new LLM(args(model, cache)))
                .hasMessageContaining("tokenizer.json").hasMessageContaining("not found");
        assertThat(entriesUnder(cache.resolve("engines"))).as("no engine built, no staging left").isZero();
    }

    @Test
    void anUnreadableTokenizerIsReportedBeforeTheEngineIsBuilt() throws IOException {
        Path model = tinyCheckpoint(scratch.resolve("model"));
        Files.writeString(model.resolve("tokenizer.json"), "{\"model\": ");
        Path cache = scratch.resolve("cache");
        assertThatThrownBy(() -> new LLM(args(model, cache))).hasMessageContaining("tokenizer.json");
        assertThat(entriesUnder(cache.resolve("engines"))).isZero();
    }

    @Test
    void tokenIdsOutsideTheVocabularyAreRefusedNamingTheField() {
        int vocab = llm.modelConfig().vocabSize();
        assertThatThrownBy(() -> llm.generate("Hi", SamplingParams.builder().stopTokenIds(5, vocab).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("stop_token_ids")
                .hasMessageContaining(Integer.toString(vocab));
        assertThatThrownBy(() -> llm.generate("Hi", SamplingParams.builder().badTokenIds(vocab + 7).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bad_token_ids")
                .hasMessageContaining(Integer.toString(vocab + 7));
        assertThatThrownBy(() -> llm.generate("Hi", SamplingParams.builder().endId(vocab).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("end_id");
        assertThatThrownBy(() -> llm.generate("Hi", SamplingParams.builder().logprobs(vocab + 1).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("logprobs")
                .hasMessageContaining("vocabulary size " + vocab);
        assertThatThrownBy(() -> SamplingParams.builder().endId(-1).build()).hasMessageContaining("end_id");
        // The largest id in the vocabulary is fine.
        assertThat(llm.generate("Hi", SamplingParams.builder().maxTokens(2).temperature(0).stopTokenIds(vocab - 1).build())
                .output().tokenIds()).hasSize(2);
    }

    @Test
    void endIdEndsGenerationInPlaceOfTheModelsEos() {
        int[] story = llm.generate("Once upon a time", SamplingParams.greedy(8)).output().tokenIds();
        CompletionOutput ended = llm.generate("Once upon a time",
                SamplingParams.builder().maxTokens(8).temperature(0).endId(story[2]).build()).output();
        assertThat(ended.tokenIds()).containsExactly(story[0], story[1], story[2]);
        assertThat(ended.finishReason()).isEqualTo(CompletionOutput.STOP);
    }

    @Test
    void anEmptyTextPromptIsItsSpecialTokensAndAnEmptyIdPromptIsRefused() {
        RequestOutput out = llm.generate("", SamplingParams.greedy(4));
        assertThat(out.promptTokenIds()).containsExactly(llm.tokenizer().encode("", true));
        assertThat(out.promptTokenIds()).as("stories15M's BOS").containsExactly(1);
        assertThat(out.output().tokenIds()).hasSize(4);
        assertThatThrownBy(() -> llm.generate(new int[0], SamplingParams.greedy(4)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("the prompt is empty");
    }
}
