package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The generation calls of TensorRT-LLM's LLM API: optional sampling parameters (its defaults), a list
 * of prompts asynchronously, per-prompt parameters, per-call overrides, and a stream read by a loop.
 */
class LlmGenerationCallsIT {
    static LLM llm;
    static final String PROMPT = "Once upon a time";

    @BeforeAll
    static void load() {
        llm = new LLM(LlmArgs.builder("stories15M").threads(1).build());
    }

    @AfterAll
    static void close() {
        llm.close();
    }

    @Test
    void withoutSamplingParamsGenerationIsTensorRtLlmsDefaultGreedyOf32Tokens() {
        SamplingParams defaults = SamplingParams.defaults();
        assertThat(defaults.greedy()).isTrue();
        assertThat(defaults.maxTokens()).isEqualTo(32);
        assertThat(defaults.ignoreEos()).isFalse();
        RequestOutput out = llm.generate(PROMPT);
        assertThat(out.output().tokenIds()).containsExactly(llm.generate(PROMPT, SamplingParams.greedy(32)).output().tokenIds());
        assertThat(out.output().tokenIds().length).isLessThanOrEqualTo(32);
        assertThat(llm.generate(List.of(PROMPT)).getFirst().output().text()).isEqualTo(out.output().text());
        assertThat(llm.generateAsync(PROMPT).join().output().text()).isEqualTo(out.output().text());
    }

    @Test
    void overridesChangeOneCallAndLeaveTheParamsAsTheyWere() {
        SamplingParams base = SamplingParams.greedy(20);
        SamplingParams shorter = base.with(b -> b.maxTokens(3));
        assertThat(base.maxTokens()).isEqualTo(20);
        assertThat(shorter.maxTokens()).isEqualTo(3);
        assertThat(shorter.greedy()).isTrue();
        assertThat(llm.generate(PROMPT, shorter).output().tokenIds()).hasSize(3);
        assertThatThrownBy(() -> base.with(b -> b.maxTokens(0))).hasMessageContaining("max_tokens must be > 0");
    }

    @Test
    void aListOfPromptsRunsAsynchronouslyInPromptOrder() throws Exception {
        List<String> prompts = List.of(PROMPT, "One day", "The cat");
        List<RequestOutput> outs = llm.generateAsync(prompts, SamplingParams.greedy(6)).get(120, TimeUnit.SECONDS);
        assertThat(outs).hasSize(3);
        for (int i = 0; i < 3; i++) {
            assertThat(outs.get(i).promptTokenIds()).containsExactly(llm.tokenizer().encode(prompts.get(i), true));
            assertThat(outs.get(i).output().text()).isEqualTo(llm.generate(prompts.get(i), SamplingParams.greedy(6)).output().text());
        }
    }

    @Test
    void aRefusedPromptInAListQueuesNoneAndCancellingAbortsAll() throws InterruptedException {
        assertThatThrownBy(() -> llm.generateAsync(List.of(PROMPT, "x".repeat(2000)), SamplingParams.greedy(4)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("max_input_len");
        var long_ = llm.generateAsync(List.of(PROMPT, "One day"), SamplingParams.builder().maxTokens(200).ignoreEos(true)
                .temperature(0).build());
        long_.cancel(true);
        assertThatThrownBy(long_::join).isInstanceOf(CancellationException.class);
        for (int i = 0; i < 200 && llm.stats().running() + llm.stats().waiting() > 0; i++) {
            Thread.sleep(10);
        }
        assertThat(llm.stats().running() + llm.stats().waiting()).isZero();
    }

    @Test
    void eachPromptMayHaveItsOwnParams() {
        List<RequestOutput> outs = llm.generate(List.of(PROMPT, PROMPT),
                List.of(SamplingParams.greedy(2), SamplingParams.greedy(5)));
        assertThat(outs.get(0).output().tokenIds()).hasSize(2);
        assertThat(outs.get(1).output().tokenIds()).hasSize(5);
        assertThatThrownBy(() -> llm.generate(List.of(PROMPT), List.of())).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("1 prompts but 0 sampling params");
    }

    @Test
    void aStreamIsReadByAForLoop() {
        List<RequestOutput> updates = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        for (RequestOutput out : llm.generateStream(PROMPT, SamplingParams.greedy(16))) {
            updates.add(out);
            text.append(out.output().textDiff());
        }
        assertThat(updates.getLast().finished()).isTrue();
        assertThat(updates.subList(0, updates.size() - 1)).allMatch(u -> !u.finished());
        assertThat(text.toString()).isEqualTo(updates.getLast().output().text())
                .isEqualTo(llm.generate(PROMPT, SamplingParams.greedy(16)).output().text());
    }

    @Test
    void aStreamLeftEarlyAbortsItsRequestAndARefusalIsThrownByTheLoop() throws InterruptedException {
        var params = SamplingParams.builder().maxTokens(200).ignoreEos(true).temperature(0).build();
        try (Stream<RequestOutput> updates = llm.generateStream(PROMPT, params).stream()) {
            assertThat(updates.limit(2).toList()).hasSize(2);
        }
        for (int i = 0; i < 200 && llm.stats().running() > 0; i++) {
            Thread.sleep(10);
        }
        assertThat(llm.stats().running()).isZero();
        var stream = llm.generateStream(PROMPT, SamplingParams.builder().maxTokens(4).stopTokenIds(1 << 20).build());
        assertThatThrownBy(() -> stream.iterator().hasNext()).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("stop_token_ids");
    }
}
