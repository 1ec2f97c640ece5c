package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.sampling.SamplingConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Defaults, validation messages, and the mapping to the executor's {@link SamplingConfig}. */
class SamplingParamsTests {

    @Test
    void defaultsFollowTensorRtLlmWhereSensible() {
        var params = SamplingParams.builder().build();
        assertThat(params.maxTokens()).isEqualTo(32);
        assertThat(params.minTokens()).isZero();
        assertThat(params.temperature()).isEqualTo(1f);
        assertThat(params.topK()).isZero();
        assertThat(params.topP()).isEqualTo(1f);
        assertThat(params.minP()).isZero();
        assertThat(params.seed()).isNull();
        assertThat(params.stop()).isEmpty();
        assertThat(params.includeStopStrInOutput()).isFalse();
        assertThat(params.stopTokenIds()).isEmpty();
        assertThat(params.ignoreEos()).isFalse();
        assertThat(params.bad()).isEmpty();
        assertThat(params.badTokenIds()).isEmpty();
        assertThat(params.repetitionPenalty()).isEqualTo(1f);
        assertThat(params.presencePenalty()).isZero();
        assertThat(params.frequencyPenalty()).isZero();
        assertThat(params.logprobs()).isNull();
        assertThat(params.promptLogprobs()).isNull();
        assertThat(params.n()).isEqualTo(1);
        assertThat(params.bestOf()).isEqualTo(1);
        assertThat(params.useBeamSearch()).isFalse();
        assertThat(params.beamWidth()).isEqualTo(1);
        assertThat(params.lengthPenalty()).isEqualTo(1f);
        assertThat(params.earlyStopping()).isEqualTo(1); // TensorRT-LLM's default
        assertThat(params.detokenize()).isTrue();
        assertThat(params.skipSpecialTokens()).isTrue();
        assertThat(params.truncatePromptTokens()).isNull();
        assertThat(params.greedy()).isFalse();
        assertThat(SamplingParams.greedy(5).greedy()).isTrue();
        assertThat(SamplingParams.builder().topK(1).build().greedy()).isTrue();
    }

    @Test
    void bestOfDefaultsToNAndIsTheBeamWidthWithBeamSearch() {
        var sampled = SamplingParams.builder().n(3).build();
        assertThat(sampled.bestOf()).isEqualTo(3);
        assertThat(sampled.beamWidth()).isEqualTo(1);
        var beams = SamplingParams.builder().temperature(0).n(2).bestOf(4).useBeamSearch(true).build();
        assertThat(beams.beamWidth()).isEqualTo(4);
        assertThat(SamplingParams.builder().n(2).useBeamSearch(true).build().beamWidth()).isEqualTo(2);
    }

    static Stream<Arguments> invalid() {
        Map<String, UnaryOperator<SamplingParams.Builder>> cases = new LinkedHashMap<>();
        cases.put("max_tokens must be > 0, got 0", b -> b.maxTokens(0));
        cases.put("min_tokens must be >= 0, got -1", b -> b.minTokens(-1));
        cases.put("min_tokens (33) must be <= max_tokens (32)", b -> b.minTokens(33));
        cases.put("temperature must be a finite number >= 0, got -0.5", b -> b.temperature(-0.5f));
        cases.put("temperature must be a finite number >= 0, got NaN", b -> b.temperature(Float.NaN));
        cases.put("top_k must be >= 0 (0 disables it), got -1", b -> b.topK(-1));
        cases.put("top_p must be in (0, 1], got 0.0", b -> b.topP(0f));
        cases.put("top_p must be in (0, 1], got 1.5", b -> b.topP(1.5f));
        cases.put("min_p must be in [0, 1], got -0.1", b -> b.minP(-0.1f));
        cases.put("min_p must be in [0, 1], got 1.1", b -> b.minP(1.1f));
        cases.put("repetition_penalty must be a finite number > 0, got 0.0", b -> b.repetitionPenalty(0f));
        cases.put("repetition_penalty must be a finite number > 0, got -1.0", b -> b.repetitionPenalty(-1f));
        cases.put("presence_penalty must be a finite number, got Infinity", b -> b.presencePenalty(Float.POSITIVE_INFINITY));
        cases.put("frequency_penalty must be a finite number, got NaN", b -> b.frequencyPenalty(Float.NaN));
        cases.put("logprobs must be >= 0 (or null for none), got -1", b -> b.logprobs(-1));
        cases.put("prompt_logprobs must be >= 0 (or null for none), got -2", b -> b.promptLogprobs(-2));
        cases.put("n must be >= 1, got 0", b -> b.n(0));
        cases.put("best_of must be >= 1, got 0", b -> b.bestOf(0));
        cases.put("best_of (2) cannot be less than n (3)", b -> b.n(3).bestOf(2));
        cases.put("greedy decoding (temperature 0 or top_k 1) gives one sequence, got best_of=2; sample (temperature > 0) "
                + "or use beam search", b -> b.temperature(0).bestOf(2));
        cases.put("length_penalty must be a finite number, got NaN", b -> b.lengthPenalty(Float.NaN));
        cases.put("early_stopping must be >= 0, got -1", b -> b.earlyStopping(-1));
        cases.put("stop[1] must not be empty, got [a, ]", b -> b.stop("a", ""));
        cases.put("bad[0] must not be empty, got []", b -> b.bad(""));
        cases.put("stop_token_ids must be >= 0, got -3 in [1, -3]", b -> b.stopTokenIds(1, -3));
        cases.put("bad_token_ids must be >= 0, got -1 in [-1]", b -> b.badTokenIds(-1));
        cases.put("stop strings need detokenize=true, got stop=[\n]", b -> b.stop("\n").detokenize(false));
        cases.put("truncate_prompt_tokens must be >= 1 (or null to keep all), got 0", b -> b.truncatePromptTokens(0));
        return cases.entrySet().stream().map(e -> Arguments.of(e.getKey(), e.getValue()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalid")
    void invalidValuesAreRejectedNamingTheFieldAndTheValue(String message, UnaryOperator<SamplingParams.Builder> change) {
        assertThatThrownBy(() -> change.apply(SamplingParams.builder()).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessage(message);
    }

    @Test
    void listsAreCopied() {
        List<String> stop = new ArrayList<>(List.of("a"));
        var params = SamplingParams.builder().stop(stop).build();
        stop.add("b");
        assertThat(params.stop()).containsExactly("a");
        assertThatThrownBy(() -> params.stop().add("c")).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void toBuilderRoundTrips() {
        var params = SamplingParams.builder().maxTokens(64).minTokens(3).temperature(0.7f).topK(40).topP(0.9f)
                .minP(0.05f).seed(5L).stop("\n\nUser:").includeStopStrInOutput(true).stopTokenIds(7).ignoreEos(true)
                .bad("darn").badTokenIds(13).repetitionPenalty(1.1f).presencePenalty(0.2f).frequencyPenalty(0.3f)
                .logprobs(5).promptLogprobs(1).n(2).bestOf(3).lengthPenalty(0.8f).earlyStopping(0).skipSpecialTokens(false)
                .truncatePromptTokens(100).build();
        assertThat(params.toBuilder().build()).isEqualTo(params);
    }

    @Test
    void toSamplingConfigResolvesEndTokensBadWordsAndLogprobs() {
        var params = SamplingParams.builder().temperature(0.8f).topK(20).topP(0.9f).minP(0.1f).seed(3L).minTokens(2)
                .stopTokenIds(7, 2).bad("foo", "foo bar").badTokenIds(5).repetitionPenalty(1.2f).presencePenalty(0.5f)
                .frequencyPenalty(0.25f).logprobs(4).build();
        Map<String, int[]> vocabulary = Map.of("foo", new int[] {11}, "foo bar", new int[] {11, 12});
        SamplingConfig config = params.toSamplingConfig(new int[] {2}, vocabulary::get);
        assertThat(config).isEqualTo(SamplingConfig.builder().temperature(0.8f).topK(20).topP(0.9f).minP(0.1f)
                .seed(3L).minTokens(2).endTokenIds(2, 7).badTokenIds(5, 11).badWords(new int[] {11, 12})
                .repetitionPenalty(1.2f).presencePenalty(0.5f).frequencyPenalty(0.25f).logprobs(4).build());

        var ignoring = SamplingParams.builder().ignoreEos(true).stopTokenIds(7).build();
        assertThat(ignoring.toSamplingConfig(new int[] {2}).endTokenIds()).containsExactly(7);
    }

    @Test
    void bestOfSamplingComputesTheChosenTokensLogprobForRanking() {
        assertThat(SamplingParams.builder().build().toSamplingConfig(new int[0]).logprobs())
                .isEqualTo(SamplingConfig.NO_LOGPROBS);
        assertThat(SamplingParams.builder().n(1).bestOf(3).build().toSamplingConfig(new int[0]).logprobs()).isZero();
        assertThat(SamplingParams.builder().n(1).bestOf(3).logprobs(2).build().toSamplingConfig(new int[0]).logprobs())
                .isEqualTo(2);
    }

    @Test
    void badWordsNeedATokenizer() {
        var params = SamplingParams.builder().bad("darn").build();
        assertThatThrownBy(() -> params.toSamplingConfig(new int[] {2}))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("need a tokenizer");
    }
}
