package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** {@link RequestWarmUp}'s rounds and stopping rule, on a submitter that records requests and a test clock. */
class RequestWarmUpTests {
    private static final long MS = 1_000_000L;

    /** A request as the submitter saw it. */
    private record Sent(String id, String text, int[] prompt, SamplingParams params, boolean streamed) {
    }

    private final List<Sent> sent = new ArrayList<>();
    private final AtomicLong now = new AtomicLong();
    private final AtomicLong compiled = new AtomicLong();
    private final AtomicBoolean idle = new AtomicBoolean(true);
    /** Rounds after which the step methods count as compiled. */
    private int compiledAfter = 0;
    /** JIT milliseconds each round adds, by round (the last value repeats). */
    private long[] compilePerRound = {0};

    private RequestWarmUp.Submitter submitter() {
        return (id, text, ids, params, onUpdate) -> {
            sent.add(new Sent(id, text, ids == null ? new int[0] : ids, params, onUpdate != null));
            if (id.endsWith("-s")) { // a round ends with its sampled request: 50 ms and the JIT's work
                int round = sent.size() / 2 - 1;
                now.addAndGet(50 * MS);
                compiled.addAndGet(compilePerRound[Math.min(round, compilePerRound.length - 1)]);
            }
            return CompletableFuture.completedFuture(null);
        };
    }

    private RequestWarmUp warmUp(int[] text, int maxInputLen, int maxSeqLen) {
        return warmUp(text, 0, maxInputLen, maxSeqLen);
    }

    private RequestWarmUp warmUp(int[] text, int sampledTextTokens, int maxInputLen, int maxSeqLen) {
        return new RequestWarmUp(submitter(), text, sampledTextTokens, 1000, maxInputLen, maxSeqLen, true, now::get, compiled::get, idle::get,
                () -> sent.size() / 2 >= compiledAfter);
    }

    @Test
    void roundsGoOnUntilTheJitIsQuietAfterARound() {
        compilePerRound = new long[] {40, 30, 20, 10, 5, 5, 5, 5, 5, 5, 0};
        var r = warmUp(new int[0], 2048, 256).run(Duration.ofSeconds(4));

        assertThat(r.rounds()).isEqualTo(11); // round 11 is the first that compiled nothing
        assertThat(r.settled()).isTrue();
        assertThat(r.elapsed()).isEqualTo(Duration.ofMillis(11 * 50));
        assertThat(sent).hasSize(22);
    }

    @Test
    void aQuietJitDoesNotStopTheRoundsBeforeTheStepIsCompiled() {
        compiledAfter = 9;
        var r = warmUp(new int[0], 2048, 256).run(Duration.ofSeconds(4));
        assertThat(r.rounds()).isEqualTo(9);
        assertThat(r.settled()).isTrue();

        sent.clear(); // a later LLM in the same JVM: the step is compiled, one round does
        compiledAfter = 0;
        var later = warmUp(new int[0], 2048, 256).run(Duration.ofSeconds(4));
        assertThat(later.rounds()).isEqualTo(1);
        assertThat(sent).hasSize(2);
    }

    @Test
    void aBusyJitIsCutByTheBudgetOrTheRoundLimit() {
        compilePerRound = new long[] {5};
        var byBudget = warmUp(new int[0], 2048, 256).run(Duration.ofMillis(120));
        assertThat(byBudget.rounds()).isEqualTo(3); // 0, 50, 100 ms < 120: three rounds start
        assertThat(byBudget.settled()).isFalse();

        idle.set(false); // nothing compiled, but the queue is not empty: not quiet either
        compilePerRound = new long[] {0};
        var byLimit = warmUp(new int[0], 2048, 256).run(Duration.ofHours(1));
        assertThat(byLimit.rounds()).isEqualTo(RequestWarmUp.MAX_ROUNDS);
        assertThat(byLimit.settled()).isFalse();
    }

    @Test
    void theBudgetNeverSkipsTheFirstRound() {
        var r = warmUp(new int[0], 2048, 256).run(Duration.ZERO);
        assertThat(r.rounds()).isEqualTo(1);
        assertThat(sent).extracting(Sent::id).containsExactly("warmup-0-g", "warmup-0-s");
    }

    @Test
    void eachRoundIsAGreedyPromptChunkBesideAShortStreamedSampledRequest() {
        compiledAfter = 2;
        warmUp(new int[0], 2048, 256).run(Duration.ofSeconds(4));

        Sent greedy = sent.get(0);
        Sent sampled = sent.get(1);
        assertThat(greedy.prompt()).hasSize(RequestWarmUp.PROMPT_TOKENS);
        assertThat(greedy.params().temperature()).isZero();
        assertThat(greedy.params().maxTokens()).isEqualTo(RequestWarmUp.GREEDY_TOKENS);
        assertThat(greedy.params().ignoreEos()).isTrue();
        assertThat(greedy.streamed()).isFalse();
        assertThat(sampled.prompt()).hasSize(RequestWarmUp.SAMPLED_PROMPT_TOKENS);
        assertThat(sampled.params().temperature()).isPositive();
        assertThat(sampled.params().topK()).isEqualTo(40);
        assertThat(sampled.params().seed()).isNotNull();
        assertThat(sampled.params().maxTokens()).isEqualTo(RequestWarmUp.SAMPLED_TOKENS);
        assertThat(sampled.streamed()).isTrue();
        // Each round's greedy prompt differs from the last one's in its first block: prefix reuse cannot skip it.
        assertThat(sent.get(2).prompt()).isNotEqualTo(greedy.prompt());
        assertThat(sent).allSatisfy(s -> assertThat(java.util.Arrays.stream(s.prompt())).allMatch(id -> id >= 0 && id < 1000));
    }

    @Test
    void promptsComeFromTheTextAfterItsFirstTokenAndFitTheLimits() {
        int[] text = {1, 10, 11, 12, 13};
        var w = warmUp(text, 6, 16);
        // max_seq_len 16: 8 tokens generated, a prompt of 16 - 8 = 8 cut to max_input_len 6.
        w.run(Duration.ZERO);
        assertThat(sent.get(0).params().maxTokens()).isEqualTo(8);
        assertThat(sent.get(0).prompt()).containsExactly(1, 11, 12, 13, 10, 11);
        assertThat(w.prompt(3, 0)).containsExactly(1, 10, 11);
        assertThat(sent).allSatisfy(s -> assertThat(s.prompt().length + s.params().maxTokens()).isLessThanOrEqualTo(16));
    }

    @Test
    void theSampledPromptGoesInAsTextWhereItFits() {
        warmUp(new int[0], 9, 2048, 256).run(Duration.ZERO);
        assertThat(sent.get(1).text()).isEqualTo(RequestWarmUp.SAMPLED_TEXT);
        assertThat(sent.get(1).prompt()).isEmpty(); // no ids: the engine tokenizes it
        assertThat(sent.get(0).text()).isEmpty();

        sent.clear(); // a prompt of 9 tokens does not fit max_input_len 6: ids of the length that does
        warmUp(new int[0], 9, 6, 256).run(Duration.ZERO);
        assertThat(sent.get(1).text()).isEmpty();
        assertThat(sent.get(1).prompt()).hasSize(6);
    }

    @Test
    void theStepMethodsItWaitsForExist() throws ClassNotFoundException {
        for (String method : RequestWarmUp.STEP_METHODS) {
            int dot = method.lastIndexOf('.');
            Class<?> type = Class.forName(method.substring(0, dot));
            assertThat(type.getDeclaredMethods()).as(method).anyMatch(m -> m.getName().equals(method.substring(dot + 1)));
        }
    }

    @Test
    void aFailedRequestFailsTheWarmUpNamingIt() {
        RequestWarmUp.Submitter failing = (id, text, ids, params, onUpdate) ->
                CompletableFuture.failedFuture(new IllegalArgumentException("no room"));
        var w = new RequestWarmUp(failing, new int[0], 0, 1000, 2048, 256, true, now::get, compiled::get, idle::get, () -> true);
        assertThatThrownBy(() -> w.run(Duration.ZERO)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("no room");
    }
}
