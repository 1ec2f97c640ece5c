package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * TensorRT-LLM's outputs beyond text: context and generation logits (bounded), cumulative_logprob
 * whenever it is computed, and finish reasons named as TensorRT-LLM names them.
 */
class LlmLogitsIT {
    static LLM llm;
    static final String PROMPT = "Once upon a time";

    @BeforeAll
    static void load() {
        llm = new LLM(LlmArgs.builder("stories15M").threads(1).maxBeamWidth(2).build());
    }

    @AfterAll
    static void close() {
        llm.close();
    }

    private static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }

    private static double logSoftmax(float[] row, int token) {
        double max = row[argmax(row)];
        double sum = 0;
        for (float v : row) {
            sum += Math.exp(v - max);
        }
        return row[token] - max - Math.log(sum);
    }

    @Test
    void generationLogitsAreTheRowsEachTokenWasChosenFromAndGiveTheCumulativeLogprob() {
        CompletionOutput out = llm.generate(PROMPT, SamplingParams.builder().maxTokens(8).temperature(0)
                .returnGenerationLogits(true).build()).output();
        int[] ids = out.tokenIds();
        Logits logits = out.generationLogits();
        assertThat(logits).isNotNull();
        assertThat(logits.rows()).isEqualTo(ids.length);
        assertThat(logits.vocabSize()).isEqualTo(llm.modelConfig().vocabSize());
        double sum = 0;
        for (int r = 0; r < ids.length; r++) {
            assertThat(argmax(logits.row(r))).as("greedy picks the row's argmax").isEqualTo(ids[r]);
            sum += logSoftmax(logits.row(r), ids[r]);
        }
        assertThat(out.cumulativeLogprob()).isNotNull().isCloseTo(sum, within(1e-3));
        assertThat(out.tokenIds()).containsExactly(llm.generate(PROMPT, SamplingParams.greedy(8)).output().tokenIds());
        assertThat(llm.generate(PROMPT, SamplingParams.greedy(8)).output().generationLogits()).isNull();
    }

    @Test
    void contextLogitsScoreEachPromptPositionAsThePromptLogprobsDo() {
        RequestOutput out = llm.generate(PROMPT, SamplingParams.builder().maxTokens(2).temperature(0)
                .returnContextLogits(true).promptLogprobs(0).build());
        int[] prompt = out.promptTokenIds();
        Logits logits = out.contextLogits();
        assertThat(logits).isNotNull();
        assertThat(logits.rows()).isEqualTo(prompt.length);
        for (int p = 0; p + 1 < prompt.length; p++) {
            assertThat(logSoftmax(logits.row(p), prompt[p + 1])).as("position %d", p)
                    .isCloseTo(out.promptLogprobs().get(p).logprob(), within(1e-3));
        }
        assertThat(argmax(logits.row(prompt.length - 1))).as("the last row predicts the first token")
                .isEqualTo(out.output().tokenIds()[0]);
        assertThat(llm.generate(PROMPT, SamplingParams.greedy(2)).contextLogits()).isNull();
    }

    @Test
    void aStreamCarriesTheLogitsInItsFinalUpdate() {
        List<RequestOutput> updates = new ArrayList<>();
        for (RequestOutput o : llm.generateStream(PROMPT, SamplingParams.builder().maxTokens(4).temperature(0)
                .returnContextLogits(true).returnGenerationLogits(true).build())) {
            updates.add(o);
        }
        assertThat(updates.subList(0, updates.size() - 1))
                .allMatch(u -> u.contextLogits() == null && u.output().generationLogits() == null);
        assertThat(updates.getLast().contextLogits()).isNotNull();
        assertThat(updates.getLast().output().generationLogits().rows()).isEqualTo(4);
    }

    @Test
    void logitsBeyondTheBoundAndWithBeamSearchAreRefused() {
        int vocab = llm.modelConfig().vocabSize();
        var tooMany = SamplingParams.builder().maxTokens(200).n(3).returnGenerationLogits(true).build();
        assertThatThrownBy(() -> llm.generate("Hi", tooMany)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("return_generation_logits: max_tokens (200) × best_of (3) × vocabulary (" + vocab + ") = "
                        + 600L * vocab + " values exceeds the limit of 16777216 per request; lower max_tokens");
        var limits = new RequestLimits(100_000, 100_000, 200_000, 10, 1);
        assertThatThrownBy(() -> limits.check(new int[100], SamplingParams.builder().maxTokens(1).returnContextLogits(true)
                .build())).hasMessageContaining("return_context_logits: prompt (100 tokens) × vocabulary (200000)");
        assertThatThrownBy(() -> llm.generate("Hi", SamplingParams.builder().maxTokens(2).useBeamSearch(true).bestOf(2)
                .returnGenerationLogits(true).build())).hasMessageContaining("use_beam_search does not support return_");
    }

    @Test
    void finishReasonsAreNamedAsTensorRtLlmAndCumulativeLogprobIsFilledWhenComputed() {
        // An end-of-sequence id (here end_id, which takes the model's EOS's place on the same path): "stop",
        // no stop reason; a stop token: "stop" with the id as the reason.
        int[] story = llm.generate(PROMPT, SamplingParams.greedy(6)).output().tokenIds();
        CompletionOutput ended = llm.generate(PROMPT, SamplingParams.greedy(6).with(b -> b.endId(story[3]))).output();
        assertThat(ended.tokenIds()).hasSize(4);
        assertThat(ended.finishReason()).isEqualTo("stop");
        assertThat(ended.stopReason()).as("an end-of-sequence id has no stop reason").isNull();
        CompletionOutput stopped = llm.generate(PROMPT, SamplingParams.greedy(6).with(b -> b.stopTokenIds(story[3]))).output();
        assertThat(stopped.finishReason()).isEqualTo("stop");
        assertThat(stopped.stopReason()).isEqualTo(story[3]);
        assertThat(llm.generate(PROMPT, SamplingParams.greedy(3)).output().finishReason()).isEqualTo("length");
        // best_of > n ranks by the cumulative log-probability, which the outputs now keep.
        RequestOutput best = llm.generate(PROMPT, SamplingParams.builder().maxTokens(4).n(1).bestOf(2).seed(1L).build());
        assertThat(best.output().cumulativeLogprob()).isNotNull().isNegative();
    }
}
