package io.trtllm.api;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.jspecify.annotations.Nullable;

/**
 * The last step of an {@code LLM}'s construction: rounds of two short requests through a scratch executor over the
 * loaded runner, so that the request path's classes are loaded and its code compiled before the first caller's
 * request. The engine's own warm-up ({@code WarmUp}) runs the runner alone; the first request through the executor
 * then loaded 141 more classes (the executor, scheduler, sampler, request tracking, the API's outputs), ran their
 * code interpreted and queued ≈ 85 C1 compiles, a fixed 8–11 ms that put the first 128-token prompt at 0.45–0.74×
 * its warm speed (docs/PERFORMANCE.md, 2026-12-07).
 *
 * <p>A round: a greedy request of a prompt chunk (up to {@value #PROMPT_TOKENS} tokens, cut to max_input_len) and
 * {@value #GREEDY_TOKENS} tokens, beside a sampled one (temperature, top-k, top-p, a seed; streamed) of a short prompt
 * and {@value #SAMPLED_TOKENS} tokens: a prefill pass of two prompts, decodes of two rows, then of one. Each round's
 * greedy prompt starts elsewhere in the text, so that prefix reuse (when on) does not skip its prefill.
 *
 * <p>Why rounds, and until what: the JIT compiles a method with C1 once it ran a few hundred times (HotSpot's
 * {@code Tier3InvocationThreshold} of 200, scaled up while its queues are long), and the executor's per-step methods
 * run once per step (a round has ≈ 33). So the rounds go on until the JIT has compiled the {@link #STEP_METHODS} and
 * then sat through a round quiet, up to {@value #MAX_ROUNDS} rounds or the budget. Compiled code belongs to the JVM,
 * not to an executor: a later {@code LLM} in the same JVM finds them compiled and stops after one round (its classes
 * loaded, a new model's shapes run once), or goes on while the JIT compiles.
 *
 * <p>Invisible to callers by construction: the scratch executor has its own KV block accounting, prefix cache, events,
 * counters and request ids ({@code warmup-N-g}, {@code warmup-N-s}), and is closed before the {@code LLM}'s own
 * executor is made; its requests take the {@code LLM}'s own submit path while no request listener (metrics) can
 * exist yet, the constructor not having returned, and its iteration stats go to a scratch history. What stays is
 * what is meant to: loaded classes, compiled code, and the runner's scratch KV contents, which no block table of the
 * real executor points at before it writes them.
 */
final class RequestWarmUp {
    /** Most rounds, however busy the JIT stays. */
    static final int MAX_ROUNDS = 32;
    /** Most time for the rounds after the first (and at most the engine's warm-up budget). */
    static final Duration BUDGET = Duration.ofSeconds(4);
    /** Prompt tokens of the greedy request: a chunk as a typical prompt's, cut to max_input_len. */
    static final int PROMPT_TOKENS = 128;
    /** Tokens the greedy request generates. */
    static final int GREEDY_TOKENS = 32;
    /** Prompt tokens of the sampled request. */
    static final int SAMPLED_PROMPT_TOKENS = 16;
    /** Prompt of the sampled request where there is a tokenizer, tokenized on the way in. */
    static final String SAMPLED_TEXT = "The little dog ran to the park";
    /** Tokens the sampled request generates. */
    static final int SAMPLED_TOKENS = 8;
    /** The most JIT compile time, in ms, a round may see and still count as quiet. */
    static final long QUIET_COMPILE_MILLIS = 1;
    /** How long one round may take before the warm-up gives up (a stuck runner should not hang construction forever). */
    static final Duration ROUND_TIMEOUT = Duration.ofSeconds(120);
    /**
     * Methods that every step of every request runs once (or once per sequence): the warm-up goes on until the JIT has
     * compiled them. Under load HotSpot compiled them only after 300-400 steps, not at its nominal 200 calls
     * (its thresholds grow with the compile queues), so a fixed count of rounds left some to the first request.
     */
    static final java.util.List<String> STEP_METHODS = java.util.List.of("io.trtllm.executor.Executor.step",
            "io.trtllm.executor.Step.run", "io.trtllm.executor.Step.postprocess", "io.trtllm.executor.Scheduler.schedule",
            "io.trtllm.executor.KvCacheManager.commit", "io.trtllm.api.RequestTracker.onToken");
    /** Queues one request on the scratch executor as a caller's is queued: a text prompt, or token ids. */
    @FunctionalInterface
    interface Submitter {
        CompletableFuture<RequestOutput> submit(String requestId, String prompt, int @Nullable [] promptIds,
                                                SamplingParams params, @Nullable Consumer<RequestOutput> onUpdate);
    }

    /**
     * What a request warm-up did.
     *
     * @param rounds     rounds run
     * @param settled    whether it stopped on a quiet JIT (false: its round limit or budget stopped it)
     * @param elapsed    time spent
     * @param promptTokens prompt tokens of each round's greedy request
     */
    record Result(int rounds, boolean settled, Duration elapsed, int promptTokens) {
    }

    private final Submitter submitter;
    private final int[] text;
    /** Whether the sampled request's prompt goes in as text (tokenized on the way, as chat messages are). */
    private final boolean sampledAsText;
    private final int vocab;
    private final int promptTokens;
    private final int greedyTokens;
    private final int sampledPromptTokens;
    private final int sampledTokens;
    /** Whether the two requests of a round may wait in the queue together (max_queue_size of 2 or more). */
    private final boolean together;
    private final LongSupplier clock;
    private final LongSupplier compileMillis;
    private final BooleanSupplier jitIdle;
    /** Whether the {@link #STEP_METHODS} are compiled. */
    private final BooleanSupplier stepCompiled;

    /**
     * @param text        token ids of a text to take prompts from (a BOS first, if the model has one), or empty: then
     *                    the prompts are made of ids below {@code vocab}
     * @param vocab       the model's vocabulary size
     * @param maxInputLen longest prompt the engine takes
     * @param sampledTextTokens tokens of {@link #SAMPLED_TEXT} in the model's tokenizer, or 0 without one: where they
     *                    fit the limits, the sampled request's prompt goes in as that text
     * @param maxSeqLen   longest prompt + output
     * @param together    whether a round may queue its two requests at once (else the second after the first ended)
     */
    RequestWarmUp(Submitter submitter, int[] text, int sampledTextTokens, int vocab, int maxInputLen, int maxSeqLen, boolean together,
                  LongSupplier clock, LongSupplier compileMillis, BooleanSupplier jitIdle, BooleanSupplier stepCompiled) {
        this.together = together;
        this.stepCompiled = stepCompiled;
        this.submitter = submitter;
        this.text = text.clone();
        this.vocab = vocab;
        this.greedyTokens = Math.max(1, Math.min(GREEDY_TOKENS, maxSeqLen / 2));
        this.promptTokens = Math.max(1, Math.min(PROMPT_TOKENS, Math.min(maxInputLen, maxSeqLen - greedyTokens)));
        this.sampledTokens = Math.min(SAMPLED_TOKENS, greedyTokens);
        this.sampledPromptTokens = Math.min(SAMPLED_PROMPT_TOKENS, promptTokens);
        this.sampledAsText = sampledTextTokens >= 1 && sampledTextTokens <= sampledPromptTokens;
        this.clock = clock;
        this.compileMillis = compileMillis;
        this.jitIdle = jitIdle;
    }

    /**
     * Rounds until the last one saw a quiet JIT (under {@value #QUIET_COMPILE_MILLIS}
     * ms compiled, nothing queued) and the {@link #STEP_METHODS} are compiled, or {@value #MAX_ROUNDS} ran, or
     * {@code budget} is spent (after the first round).
     *
     * @throws IllegalStateException when a request fails or a round takes longer than {@link #ROUND_TIMEOUT}
     */
    Result run(Duration budget) {
        long start = clock.getAsLong();
        int rounds = 0;
        boolean quiet = false;
        while (rounds < MAX_ROUNDS && (rounds == 0 || clock.getAsLong() - start < budget.toNanos())) {
            long compiled = compileMillis.getAsLong();
            round(rounds);
            rounds++;
            quiet = compileMillis.getAsLong() - compiled <= QUIET_COMPILE_MILLIS && jitIdle.getAsBoolean()
                    && stepCompiled.getAsBoolean();
            if (quiet) {
                break;
            }
        }
        return new Result(rounds, quiet, Duration.ofNanos(clock.getAsLong() - start), promptTokens);
    }

    /** One round: the greedy and the sampled request, queued together (where the queue allows), awaited both. */
    private void round(int round) {
        var greedyParams = SamplingParams.builder().maxTokens(greedyTokens).temperature(0).ignoreEos(true).build();
        var sampledParams = SamplingParams.builder().maxTokens(sampledTokens).temperature(0.8f).topK(40).topP(0.95f)
                .seed((long) round).ignoreEos(true).build();
        CompletableFuture<RequestOutput> g = submitter.submit("warmup-" + round + "-g", "", prompt(promptTokens, 1 + round),
                greedyParams, null);
        CompletableFuture<RequestOutput> s = null;
        try {
            if (!together) {
                g.get(ROUND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            }
            String id = "warmup-" + round + "-s";
            s = sampledAsText ? submitter.submit(id, SAMPLED_TEXT, null, sampledParams, update -> { })
                    : submitter.submit(id, "", prompt(sampledPromptTokens, 0), sampledParams, update -> { });
            g.get(ROUND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            s.get(ROUND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during the request warm-up", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("a request warm-up request failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("a request warm-up round took longer than " + ROUND_TIMEOUT.toSeconds() + " s");
        } finally {
            g.cancel(true); // no-ops once done; frees the scratch executor's work when a round gave up
            if (s != null) {
                s.cancel(true);
            }
        }
    }

    /**
     * {@code length} prompt tokens: the text's first token (a BOS where the model has one), then the text from
     * {@code offset} on, wrapping around; ids below the vocabulary made up where there is no text.
     */
    int[] prompt(int length, int offset) {
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) {
            if (text.length == 0) {
                ids[i] = (3 + 7 * i + 31 * offset) % vocab;
            } else if (i == 0 || text.length == 1) {
                ids[i] = text[0];
            } else {
                ids[i] = text[1 + (offset + i - 1) % (text.length - 1)];
            }
        }
        return ids;
    }
}
