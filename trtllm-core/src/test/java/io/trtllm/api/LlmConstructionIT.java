package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.Quantization;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The ways to make an {@link LLM} a TensorRT-LLM user expects: from a model name, through a builder,
 * with a {@link BuildConfig}, a tokenizer object or none at all; and max_beam_width enforced.
 */
class LlmConstructionIT {
    private static final String PROMPT = "Once upon a time";

    @Test
    void anLlmFromAModelNameAndOneFromTheBuilderGenerateAlike() {
        try (var byName = new LLM("stories15M");
             var built = LLM.builder("stories15M").threads(1).load()) {
            String text = byName.generate(PROMPT, SamplingParams.greedy(12)).output().text();
            assertThat(text).startsWith(", there was a little girl");
            assertThat(built.generate(PROMPT, SamplingParams.greedy(12)).output().text()).isEqualTo(text);
        }
    }

    @Test
    void aBuildConfigSetsTheEngineLimitsAndTypesAndLaterSettersWin() {
        var config = BuildConfig.builder(128).maxInputLen(100).maxBatchSize(8).maxNumTokens(512).maxBeamWidth(3)
                .dtype(Dtype.FLOAT32).quantization(Quantization.NONE).build();
        LlmArgs args = LlmArgs.builder("stories15M").buildConfig(config).build();
        assertThat(args.maxSeqLen()).isEqualTo(128);
        assertThat(args.maxInputLen()).isEqualTo(100);
        assertThat(args.maxBatchSize()).isEqualTo(8);
        assertThat(args.maxNumTokens()).isEqualTo(512);
        assertThat(args.maxBeamWidth()).isEqualTo(3);
        assertThat(args.dtype()).isEqualTo("float32");
        assertThat(LlmArgs.builder("stories15M").buildConfig(config).maxBatchSize(2).build().maxBatchSize()).isEqualTo(2);
    }

    @Test
    void contradictoryTokenizerArgumentsAreRefused() {
        assertThatThrownBy(() -> LlmArgs.builder("stories15M").maxBeamWidth(0).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("max_beam_width must be > 0");
        assertThatThrownBy(() -> LlmArgs.builder("stories15M").tokenizer(Path.of("tok")).skipTokenizerInit(true).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("skip_tokenizer_init");
    }

    @Test
    void aBeamSearchWiderThanMaxBeamWidthIsRefusedAndOneAsWideRuns() {
        try (var llm = LLM.builder("stories15M").threads(1).maxBeamWidth(2).load()) {
            var wide = SamplingParams.builder().maxTokens(4).useBeamSearch(true).bestOf(3).build();
            assertThatThrownBy(() -> llm.generate(PROMPT, wide)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("the beam width (3) exceeds max_beam_width 2; set LlmArgs maxBeamWidth to allow it");
            var fits = SamplingParams.builder().maxTokens(4).useBeamSearch(true).bestOf(2).n(2).build();
            assertThat(llm.generate(PROMPT, fits).outputs()).hasSize(2);
        }
        try (var llm = LLM.builder("stories15M").threads(1).load()) {
            assertThatThrownBy(() -> llm.generate(PROMPT, SamplingParams.builder().maxTokens(4).useBeamSearch(true).bestOf(2)
                    .build())).hasMessageContaining("exceeds max_beam_width 1");
        }
    }

    @Test
    void aTokenizerObjectIsUsedAndStaysTheCallers() {
        String expected;
        Path modelDir;
        try (var plain = LLM.builder("stories15M").threads(1).load()) {
            expected = plain.generate(PROMPT, SamplingParams.greedy(12)).output().text();
            modelDir = plain.modelDirectory();
        }
        try (var tokenizer = TransformersTokenizer.load(modelDir)) {
            try (var llm = LLM.builder("stories15M").threads(1).tokenizer(tokenizer).load()) {
                assertThat(llm.tokenizer()).isSameAs(tokenizer);
                assertThat(llm.generate(PROMPT, SamplingParams.greedy(12)).output().text()).isEqualTo(expected);
            }
            assertThat(tokenizer.encode(PROMPT, true)).as("still open after the LLM closed").startsWith(1);
        }
    }

    @Test
    void withSkipTokenizerInitTokenIdsGoInAndComeOut() {
        int[] prompt;
        int[] expected;
        try (var plain = LLM.builder("stories15M").threads(1).load()) {
            prompt = plain.tokenizer().encode(PROMPT, true);
            expected = plain.generate(PROMPT, SamplingParams.greedy(12)).output().tokenIds();
        }
        try (var llm = LLM.builder("stories15M").threads(1).skipTokenizerInit(true).load()) {
            CompletionOutput out = llm.generate(prompt, SamplingParams.greedy(12)).output();
            assertThat(out.tokenIds()).containsExactly(expected);
            assertThat(out.text()).isEmpty();
            assertThatThrownBy(() -> llm.generate(PROMPT, SamplingParams.greedy(4)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("skip_tokenizer_init")
                    .hasMessageContaining("token ids");
            assertThatThrownBy(() -> llm.generate(prompt, SamplingParams.builder().stop("Lily").build()))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("stop_token_ids");
            assertThatThrownBy(llm::tokenizer).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("skip_tokenizer_init");
        }
    }
}
