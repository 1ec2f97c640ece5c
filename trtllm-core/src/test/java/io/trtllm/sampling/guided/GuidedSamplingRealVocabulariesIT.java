package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.trtllm.api.CompletionOutput;
import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.model.SafeTensors;
import io.trtllm.model.SafeTensorsWriter;
import io.trtllm.model.Tensor;
import io.trtllm.testing.Gen;
import io.trtllm.testing.TestFixtures;
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
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The sampled-generation test on the real Llama 3 (128,256 tokens) and Qwen3 (151,936) vocabularies:
 * a tiny random-weight Llama checkpoint (the parity fixture, 2 layers of 64) whose embedding and LM head are
 * widened to the vocabulary, with the real tokenizer beside it, so that the engine draws from 128k-151k-token
 * rows under the masks. 200 sampled generations per schema for the ten schemas of {@link TestSchemas#TEN}: every
 * output is a prefix the guide allows, and every output that ended validates against its schema (networknt,
 * formats asserted). Random weights make the draws near uniform among the allowed tokens: the mask alone makes
 * the outputs valid.
 */
class GuidedSamplingRealVocabulariesIT {
    private static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int SAMPLES = 200;
    private static final int MAX_TOKENS = 48;

    static Stream<String> vocabularies() {
        return Stream.of("llama3", "qwen3");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vocabularies")
    void twoHundredSampledGenerationsPerSchemaValidate(String vocabulary, @TempDir Path scratch) {
        Path model = checkpoint(vocabulary, scratch.resolve("model"));
        LlmArgs args = LlmArgs.builder(model.toString()).backend("cpu").maxSeqLen(128).maxBatchSize(64)
                .buildCacheConfig(new BuildCacheConfig(scratch.resolve("cache"), 1, Long.MAX_VALUE)).build();
        try (LLM llm = new LLM(args)) {
            int prompt = llm.tokenizer().encode("Once upon a time", false).length;
            assertThat(prompt).isPositive();
            for (var entry : TestSchemas.TEN.entrySet()) {
                String name = entry.getKey();
                String schemaText = entry.getValue();
                CompiledGuide byteGuide = Languages.compile(GuidedDecodingParams.json(schemaText));
                Schema schema = REGISTRY.getSchema(schemaText, InputFormat.JSON);
                List<Long> seeds = Gen.seeds("guided sampling " + name + " on " + vocabulary, SAMPLES).toList();
                List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
                for (int i = 0; i < SAMPLES; i++) {
                    futures.add(llm.generateAsync("Once upon a time", SamplingParams.builder().maxTokens(MAX_TOKENS)
                            .temperature(1.0f).seed(seeds.get(i))
                            .guidedDecoding(GuidedDecodingParams.json(schemaText).withCompactWhitespace(true)).build()));
                }
                int ended = 0;
                for (var f : futures) {
                    CompletionOutput out = f.join().output();
                    assertThat(Languages.isViablePrefix(byteGuide, out.text()))
                            .as("%s on %s: a prefix the guide allows: %s", name, vocabulary, out.text()).isTrue();
                    if (CompletionOutput.STOP.equals(out.finishReason())) {
                        ended++;
                        var errors = schema.validate(out.text(), InputFormat.JSON,
                                ctx -> ctx.executionConfig(c -> c.formatAssertionsEnabled(true)));
                        assertThat(errors).as("%s on %s validates %s", name, vocabulary, out.text()).isEmpty();
                    } else {
                        assertThat(out.finishReason()).isEqualTo(CompletionOutput.LENGTH);
                    }
                }
                System.out.printf("guided sampling on %s, %s: %d of %d outputs ended within %d tokens%n", vocabulary,
                        name, ended, SAMPLES, MAX_TOKENS);
            }
        }
    }

    /**
     * The parity fixture's tiny Llama with its tied embedding widened to {@code vocabulary}'s size (the new rows
     * random, N(0, 0.02)), its special ids the tokenizer's, and the tokenizer's files beside it.
     */
    private static Path checkpoint(String vocabulary, Path dir) {
        Path tokenizer = vocabulary.equals("llama3") ? TestFixtures.llama3Tokenizer() : TestFixtures.qwen3Tokenizer();
        int vocab = vocabulary.equals("llama3") ? 128_256 : 151_936;
        List<Integer> eos = vocabulary.equals("llama3") ? List.of(128_001, 128_009) : List.of(151_645, 151_643);
        int bos = vocabulary.equals("llama3") ? 128_000 : 151_643;
        try {
            Files.createDirectories(dir);
            Path original = dir.resolve("original.safetensors");
            try (InputStream in = GuidedSamplingRealVocabulariesIT.class.getResourceAsStream("/parity/llama3/model.safetensors")) {
                Files.copy(java.util.Objects.requireNonNull(in, "parity/llama3 fixture"), original);
            }
            List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
            Random random = new Random(vocab);
            try (SafeTensors st = SafeTensors.open(original)) {
                for (String name : st.names()) {
                    Tensor t = st.tensor(name);
                    float[] values = t.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
                    long[] shape = t.shape();
                    if (name.equals("model.embed_tokens.weight") || name.equals("lm_head.weight")) {
                        int hidden = (int) shape[1];
                        float[] wide = new float[vocab * hidden];
                        System.arraycopy(values, 0, wide, 0, values.length);
                        for (int i = values.length; i < wide.length; i++) {
                            wide[i] = (float) (random.nextGaussian() * 0.02);
                        }
                        values = wide;
                        shape = new long[] {vocab, hidden};
                    }
                    entries.add(new SafeTensorsWriter.Entry(name, shape, values));
                }
            }
            Files.delete(original);
            SafeTensorsWriter.writeF32(dir.resolve("model.safetensors"), entries, Map.of("format", "pt"));
            ObjectNode config;
            try (InputStream in = GuidedSamplingRealVocabulariesIT.class.getResourceAsStream("/parity/llama3/config.json")) {
                config = (ObjectNode) JSON.readTree(in);
            }
            config.put("vocab_size", vocab).put("bos_token_id", bos);
            config.putArray("eos_token_id").add(eos.get(0)).add(eos.get(1));
            Files.write(dir.resolve("config.json"), JSON.writeValueAsBytes(config));
            ObjectNode generation = JSON.createObjectNode().put("bos_token_id", bos);
            generation.putArray("eos_token_id").add(eos.get(0)).add(eos.get(1));
            Files.write(dir.resolve("generation_config.json"), JSON.writeValueAsBytes(generation));
            try (var files = Files.list(tokenizer)) {
                for (Path f : files.toList()) {
                    if (Files.isRegularFile(f)) {
                        Files.copy(f, dir.resolve(f.getFileName().toString()));
                    }
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
