package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.trtllm.api.CompletionOutput;
import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.TokenLogprob;
import io.trtllm.api.config.GuidedDecodingException;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.testing.Gen;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Guided decoding where sampling happens, end to end through {@link LLM} on the builtin stories15M model:
 * every mode (greedy, temperature with top-k and top-p, n/best_of, beam search) keeps to the guide; the
 * end-of-sequence token comes only where the output is complete; max_tokens inside a value ends with
 * {@code length}; a guided greedy output is the same alone and in a batch of mixed requests; log-probabilities
 * are those of the masked distribution. The model cannot follow instructions: the mask alone makes the outputs
 * valid, which is what is tested.
 */
class GuidedSamplingStories15MIT {
    private static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    private static final String PROMPT = "Once upon a time";
    /**
     * Generations per schema with the model in the loop: 20 × 10 schemas = 200 in one test class's budget (about
     * 20 s on 2 shared cores). GuidedGenerationPropertyIT draws 200 per schema without a model, on the real
     * Llama 3, Qwen3 and stories15M vocabularies.
     */
    private static final int SAMPLES = 20;
    private static LLM llm;

    @BeforeAll
    static void load() {
        llm = new LLM(LlmArgs.builder("stories15M").maxBatchSize(SAMPLES).maxBeamWidth(4).build());
    }

    @AfterAll
    static void close() {
        if (llm != null) {
            llm.close();
        }
    }

    static List<String> schemaNames() {
        return List.copyOf(TestSchemas.TEN.keySet());
    }

    /**
     * Sampled generations per schema, in one batch, a third each with plain temperature, top-k and top-p: every
     * output that ended validates against its schema (networknt), and every output, ended or cut by max_tokens,
     * is a prefix the guide allows. Compact JSON: with whitespace allowed, stories15M spends its budget on
     * newlines; and it writes stories, so inside an unbounded string it goes on until max_tokens.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("schemaNames")
    void everySampledOutputValidatesAgainstItsSchema(String name) {
        String schemaText = TestSchemas.TEN.get(name);
        CompiledGuide byteGuide = Languages.compile(GuidedDecodingParams.json(schemaText));
        Schema schema = REGISTRY.getSchema(schemaText, InputFormat.JSON);
        List<Long> seeds = Gen.seeds("guided sampling " + name, SAMPLES).toList();
        List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
        for (int i = 0; i < SAMPLES; i++) {
            var params = SamplingParams.builder().maxTokens(64).temperature(0.7f).seed(seeds.get(i))
                    .guidedDecoding(GuidedDecodingParams.json(schemaText).withCompactWhitespace(true));
            switch (i % 3) {
                case 1 -> params.topK(20);
                case 2 -> params.topP(0.9f);
                default -> { }
            }
            futures.add(llm.generateAsync(PROMPT, params.build()));
        }
        int ended = 0;
        for (var f : futures) {
            CompletionOutput out = f.join().output();
            assertThat(Languages.isViablePrefix(byteGuide, out.text())).as("%s: a prefix the guide allows: %s", name,
                    out.text()).isTrue();
            if (CompletionOutput.STOP.equals(out.finishReason())) {
                ended++;
                var errors = schema.validate(out.text(), InputFormat.JSON,
                        ctx -> ctx.executionConfig(c -> c.formatAssertionsEnabled(true)));
                assertThat(errors).as("%s validates %s", name, out.text()).isEmpty();
            }
        }
        System.out.printf("guided sampling, %s: %d of %d outputs ended within 64 tokens%n", name, ended, SAMPLES);
    }

    @Test
    void regexAndChoiceOutputsMatch() {
        String regex = "(cat|dog)s? [0-9]{1,3}";
        List<String> choices = List.of("yes", "no", "Once upon a time");
        List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
        for (long seed = 0; seed < 40; seed++) {
            futures.add(llm.generateAsync(PROMPT, SamplingParams.builder().maxTokens(20).seed(seed)
                    .guidedDecoding(GuidedDecodingParams.regex(regex)).build()));
            futures.add(llm.generateAsync(PROMPT, SamplingParams.builder().maxTokens(20).seed(seed)
                    .guidedDecoding(GuidedDecodingParams.choice(choices)).build()));
        }
        for (int i = 0; i < futures.size(); i++) {
            CompletionOutput out = futures.get(i).join().output();
            assertThat(out.finishReason()).isEqualTo(CompletionOutput.STOP);
            if (i % 2 == 0) {
                assertThat(out.text()).matches(Pattern.compile(regex));
            } else {
                assertThat(choices).contains(out.text());
            }
        }
    }

    /** Greedy guided outputs, alone and among 16 requests of which half are guided (of every kind) and half free. */
    @Test
    void greedyGuidedOutputIsTheSameAloneAndInAMixedBatch() {
        List<SamplingParams> mixed = new ArrayList<>();
        List<GuidedDecodingParams> guides = List.of(GuidedDecodingParams.json(TestSchemas.TEN.get("person")),
                GuidedDecodingParams.jsonObject(), GuidedDecodingParams.regex("[a-z ]{1,30}\\."),
                GuidedDecodingParams.choice(List.of("alpha", "beta")), GuidedDecodingParams.json(TestSchemas.TEN.get("numbers")),
                GuidedDecodingParams.grammar("root ::= \"(\" [a-z]+ \")\""), GuidedDecodingParams.json(TestSchemas.TEN.get("tuple")),
                GuidedDecodingParams.json(TestSchemas.TEN.get("enums")));
        for (int i = 0; i < 16; i++) {
            var b = SamplingParams.builder().maxTokens(48).temperature(0);
            mixed.add(i % 2 == 0 ? b.guidedDecoding(guides.get(i / 2)).build() : b.build());
        }
        List<int[]> alone = new ArrayList<>();
        for (SamplingParams p : mixed) {
            alone.add(llm.generate(PROMPT, p).output().tokenIds());
        }
        List<CompletableFuture<RequestOutput>> batch = new ArrayList<>();
        for (int i = 0; i < mixed.size(); i++) {
            // Different prompts in the batch, so that rows differ; the guided ones use the test's prompt.
            batch.add(llm.generateAsync(i % 2 == 0 ? PROMPT : "The little dog " + i, mixed.get(i)));
        }
        for (int i = 0; i < mixed.size(); i += 2) {
            assertThat(batch.get(i).join().output().tokenIds()).as("guided request %d", i).containsExactly(alone.get(i));
        }
        for (int i = 0; i < mixed.size(); i += 2) {
            String text = batch.get(i).join().output().text();
            assertThat(Languages.isViablePrefix(Languages.compile(guides.get(i / 2)), text)).as(text).isTrue();
        }
    }

    @Test
    void nAndBestOfSamplesAllKeepToTheGuideAndLogprobsStayThoseOfTheRawDistribution() {
        List<String> choices = List.of("red", "green", "blue");
        RequestOutput out = llm.generate(PROMPT, SamplingParams.builder().maxTokens(8).temperature(1f).seed(7L)
                .n(3).bestOf(5).logprobs(5).guidedDecoding(GuidedDecodingParams.choice(choices)).build());
        assertThat(out.outputs()).hasSize(3);
        for (CompletionOutput o : out.outputs()) {
            assertThat(choices).contains(o.text());
            assertThat(o.cumulativeLogprob()).isFinite();
            assertThat(o.logprobs()).allSatisfy(lp -> assertThat(lp.logprob()).isFinite());
        }
        // The raw distribution: the guided request's first position reports what the free one does, although
        // the guide forbids the free request's top token.
        RequestOutput free = llm.generate(PROMPT, SamplingParams.builder().maxTokens(1).temperature(0).logprobs(3).build());
        RequestOutput guided = llm.generate(PROMPT, SamplingParams.builder().maxTokens(1).temperature(0).logprobs(3)
                .guidedDecoding(GuidedDecodingParams.choice(choices)).build());
        TokenLogprob g = guided.output().logprobs().getFirst();
        TokenLogprob f = free.output().logprobs().getFirst();
        assertThat(g.topTokenIds()).containsExactly(f.topTokenIds());
        assertThat(g.topLogprobs()).containsExactly(f.topLogprobs());
        assertThat(guided.output().tokenIds()[0]).isNotEqualTo(free.output().tokenIds()[0]);
        assertThat(g.logprob()).isLessThan(f.topLogprobs()[0]);
    }

    @Test
    void beamSearchKeepsEveryBeamToTheGuide() {
        String schemaText = TestSchemas.TEN.get("bounded-array");
        RequestOutput out = llm.generate(PROMPT, SamplingParams.builder().maxTokens(24).useBeamSearch(true).bestOf(3).n(2)
                .guidedDecoding(GuidedDecodingParams.json(schemaText)).build());
        Schema schema = REGISTRY.getSchema(schemaText, InputFormat.JSON);
        CompiledGuide byteGuide = Languages.compile(GuidedDecodingParams.json(schemaText));
        assertThat(out.outputs()).hasSize(2);
        for (CompletionOutput o : out.outputs()) {
            assertThat(Languages.isViablePrefix(byteGuide, o.text())).as(o.text()).isTrue();
            if (CompletionOutput.STOP.equals(o.finishReason())) {
                assertThat(schema.validate(o.text(), InputFormat.JSON)).as(o.text()).isEmpty();
            }
        }
        // A guide that ends within the budget: every beam returned is complete.
        RequestOutput digits = llm.generate(PROMPT, SamplingParams.builder().maxTokens(8).useBeamSearch(true).bestOf(4).n(3)
                .guidedDecoding(GuidedDecodingParams.regex("[0-9]{3}")).build());
        assertThat(digits.outputs()).hasSize(3).allSatisfy(o -> {
            assertThat(o.finishReason()).isEqualTo(CompletionOutput.STOP);
            assertThat(o.text()).matches("[0-9]{3}");
        });
    }

    @Test
    void maxTokensInsideAValueEndsWithLengthAndAViablePrefix() {
        String schemaText = TestSchemas.TEN.get("person");
        CompletionOutput out = llm.generate(PROMPT, SamplingParams.builder().maxTokens(4).temperature(0)
                .guidedDecoding(GuidedDecodingParams.json(schemaText)).build()).output();
        assertThat(out.finishReason()).isEqualTo(CompletionOutput.LENGTH);
        assertThat(out.tokenIds()).hasSize(4);
        CompiledGuide byteGuide = Languages.compile(GuidedDecodingParams.json(schemaText));
        assertThat(Languages.isViablePrefix(byteGuide, out.text())).isTrue();
        assertThat(Languages.matches(byteGuide, out.text())).isFalse();
    }

    @Test
    void guidesThatCannotWorkAreRefusedWhenSubmitted() {
        assertThatThrownBy(() -> SamplingParams.builder().ignoreEos(true)
                .guidedDecoding(GuidedDecodingParams.jsonObject()).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("ignore_eos");
        assertThatThrownBy(() -> SamplingParams.builder().minTokens(2)
                .guidedDecoding(GuidedDecodingParams.jsonObject()).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("min_tokens");
        assertThatThrownBy(() -> llm.generate(PROMPT, SamplingParams.builder()
                .guidedDecoding(GuidedDecodingParams.json("{\"type\": \"object\", \"not\": {}}")).build()))
                .isInstanceOf(GuidedDecodingException.class).hasMessageContaining("not");
        assertThatThrownBy(() -> llm.generate(PROMPT, SamplingParams.builder()
                .guidedDecoding(GuidedDecodingParams.regex("a(?=b)")).build()))
                .isInstanceOf(GuidedDecodingException.class);
    }
}
