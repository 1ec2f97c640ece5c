package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.CompletionOutput;
import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.model.SafeTensors;
import io.trtllm.model.SafeTensorsWriter;
import io.trtllm.model.Tensor;
import io.trtllm.testing.TestFixtures;
import io.trtllm.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 16's regex, choice and batch-invariance checks with the model in the loop on the real byte-level BPE
 * vocabularies: the tiny random-weight Llama 3 and Qwen3 parity checkpoints (each its own architecture), their
 * embedding and LM head widened to the real tokenizers' vocabularies (Llama 3: 128,256 tokens; Qwen3: 151,669,
 * the head rounded up to a multiple of 64 so that some logits have no token) with random rows, served by
 * {@link LLM} on the CPU backend: 200 sampled regex and choice outputs all end and match; a greedy guided output
 * (eight kinds of guide) is the same alone and among 16 mixed guided and free requests, and a matcher over the
 * tokenizer's own vocabulary accepts it token by token. The 200 × 10 schema generations on these vocabularies
 * are GuidedSamplingRealVocabulariesIT's.
 */
class GuidedTinyModelsIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final String PROMPT = "Once upon a time";
    private static final int SAMPLES = 200;

    @TempDir
    static Path tmp;

    /** A served tiny model and the guide vocabulary of its tokenizer (the test's independent replay). */
    private record Served(LLM llm, GuideVocabulary vocabulary) {
    }

    private static final Map<String, Served> SERVED = new ConcurrentHashMap<>();

    @AfterAll
    static void close() {
        SERVED.values().forEach(s -> s.llm().close());
    }

    private static Served served(String model) {
        return SERVED.computeIfAbsent(model, m -> {
            Path tokenizerDir = m.equals("llama3") ? TestFixtures.llama3Tokenizer() : TestFixtures.qwen3Tokenizer();
            Tokenizer tokenizer = Tokenizer.load(tokenizerDir);
            Path dir = widened(m, tokenizerDir, tokenizer, tmp.resolve(m));
            var llm = new LLM(LlmArgs.builder(dir.toString()).backend("cpu").maxBatchSize(64).cacheDir(tmp.resolve("cache"))
                    .build());
            return new Served(llm, GuideVocabulary.of(tokenizer.vocabSize(), tokenizer::tokenBytes, tokenizer.eosTokenIds(),
                    tokenizer.decodeStripsLeadingSpace()));
        });
    }

    /**
     * The parity fixture {@code model} with its vocabulary widened to the tokenizer's: config (vocab_size, end and
     * start ids), every tensor as F32, the embedding (and an untied head) random with the fixture's spread.
     */
    private static Path widened(String model, Path tokenizerDir, Tokenizer tokenizer, Path dir) {
        try {
            Files.createDirectories(dir);
            int vocab = (tokenizer.vocabSize() + 63) / 64 * 64;
            int eos = tokenizer.eosTokenIds().getFirst();
            for (String f : List.of("config.json", "generation_config.json")) {
                ObjectNode json = (ObjectNode) JSON.readTree(resource(model, f));
                if (f.equals("config.json")) {
                    json.put("vocab_size", vocab);
                }
                json.put("eos_token_id", eos);
                json.putNull("bos_token_id");
                Files.write(dir.resolve(f), JSON.writeValueAsBytes(json));
            }
            for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
                Files.copy(tokenizerDir.resolve(f), dir.resolve(f));
            }
            Path original = dir.resolve("original.safetensors");
            try (InputStream in = resource(model, "model.safetensors")) {
                Files.copy(in, original);
            }
            List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
            var random = new SplittableRandom(16);
            try (SafeTensors st = SafeTensors.open(original)) {
                for (String name : st.names()) {
                    Tensor t = st.tensor(name);
                    float[] values = floats(t);
                    long[] shape = t.shape();
                    if (name.equals("model.embed_tokens.weight") || name.equals("lm_head.weight")) {
                        double spread = spread(values);
                        int width = (int) shape[1];
                        values = new float[vocab * width];
                        for (int i = 0; i < values.length; i++) {
                            values[i] = (float) (random.nextGaussian() * spread);
                        }
                        shape = new long[] {vocab, width};
                    }
                    entries.add(new SafeTensorsWriter.Entry(name, shape, values));
                }
            }
            Files.delete(original);
            SafeTensorsWriter.writeF32(dir.resolve("model.safetensors"), entries, Map.of("format", "pt"));
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static InputStream resource(String model, String file) {
        InputStream in = GuidedTinyModelsIT.class.getResourceAsStream("/parity/" + model + "/" + file);
        if (in == null) {
            throw new IllegalStateException("missing test resource parity/" + model + "/" + file);
        }
        return in;
    }

    private static float[] floats(Tensor t) {
        int n = Math.toIntExact(t.data().byteSize() / t.dtype().byteSize());
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = switch (t.dtype()) {
                case F32 -> t.data().get(F32, 4L * i);
                case BF16 -> Float.intBitsToFloat((t.data().get(U16, 2L * i) & 0xffff) << 16);
                case F16 -> Float.float16ToFloat(t.data().get(U16, 2L * i));
                default -> throw new IllegalArgumentException(t.name() + ": " + t.dtype());
            };
        }
        return out;
    }

    private static double spread(float[] values) {
        double sum = 0;
        double squares = 0;
        for (float v : values) {
            sum += v;
            squares += (double) v * v;
        }
        double mean = sum / values.length;
        return Math.sqrt(Math.max(1e-8, squares / values.length - mean * mean));
    }

    /** Replays {@code tokens} (an end token last when the output ended) through a fresh matcher of the guide. */
    private static void assertGuideAccepts(Served s, GuidedDecodingParams params, int[] tokens, String text) {
        GuideMatcher matcher = GuidedDecoding.compile(params, s.vocabulary()).newMatcher();
        for (int i = 0; i < tokens.length; i++) {
            assertThat(matcher.accept(tokens[i])).as("token %d (id %d) of %s continues the guide", i, tokens[i], text)
                    .isTrue();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "qwen3"})
    void regexAndChoiceOutputsAllMatch(String model) {
        Served s = served(model);
        String regex = "(cat|dog)s? [0-9]{1,3}";
        List<String> choices = List.of("yes", "no", "Once upon a time", "日本語");
        List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
        for (long seed = 0; seed < SAMPLES / 2; seed++) {
            futures.add(s.llm().generateAsync(PROMPT, SamplingParams.builder().maxTokens(24).temperature(1f).seed(seed)
                    .guidedDecoding(GuidedDecodingParams.regex(regex)).build()));
            futures.add(s.llm().generateAsync(PROMPT, SamplingParams.builder().maxTokens(24).temperature(1f).seed(seed)
                    .guidedDecoding(GuidedDecodingParams.choice(choices)).build()));
        }
        for (int i = 0; i < futures.size(); i++) {
            CompletionOutput out = futures.get(i).join().output();
            assertThat(out.finishReason()).as(out.text()).isEqualTo(CompletionOutput.STOP);
            if (i % 2 == 0) {
                assertThat(out.text()).matches(Pattern.compile(regex));
            } else {
                assertThat(choices).contains(out.text());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "qwen3"})
    void greedyGuidedOutputIsTheSameAloneAndInAMixedBatchOfSixteen(String model) {
        Served s = served(model);
        List<GuidedDecodingParams> guides = List.of(GuidedDecodingParams.json(TestSchemas.TEN.get("person")),
                GuidedDecodingParams.jsonObject(), GuidedDecodingParams.regex("[a-z ]{1,30}\\."),
                GuidedDecodingParams.choice(List.of("alpha", "beta")), GuidedDecodingParams.json(TestSchemas.TEN.get("numbers")),
                GuidedDecodingParams.grammar("root ::= \"(\" [a-z]+ \")\""), GuidedDecodingParams.json(TestSchemas.TEN.get("tuple")),
                GuidedDecodingParams.json(TestSchemas.TEN.get("enums")));
        List<SamplingParams> mixed = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            var b = SamplingParams.builder().maxTokens(32).temperature(0);
            mixed.add(i % 2 == 0 ? b.guidedDecoding(guides.get(i / 2)).build()
                    : b.temperature(0.8f).seed((long) i).build());
        }
        List<int[]> alone = new ArrayList<>();
        for (int i = 0; i < mixed.size(); i += 2) {
            alone.add(s.llm().generate(PROMPT, mixed.get(i)).output().tokenIds());
        }
        List<CompletableFuture<RequestOutput>> batch = new ArrayList<>();
        for (int i = 0; i < mixed.size(); i++) {
            batch.add(s.llm().generateAsync(i % 2 == 0 ? PROMPT : "The little dog " + i, mixed.get(i)));
        }
        for (int i = 0; i < mixed.size(); i += 2) {
            CompletionOutput out = batch.get(i).join().output();
            assertThat(out.tokenIds()).as("guided request %d", i).containsExactly(alone.get(i / 2));
            assertGuideAccepts(s, guides.get(i / 2), out.tokenIds(), out.text());
        }
    }
}
