package io.trtllm.api;

import io.trtllm.executor.FinishReason;
import io.trtllm.executor.GenerationListener;
import io.trtllm.executor.RequestStats;
import io.trtllm.sampling.SampledToken;
import io.trtllm.tokenizer.IncrementalDetokenizer;
import io.trtllm.tokenizer.StopStringMatcher;
import io.trtllm.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * Turns one request's executor events into {@link RequestOutput}s: ids, log-probabilities, text
 * (incremental when streamed or when stop strings must be watched; else decoded once at the end),
 * stop strings. The executor calls it on its loop thread; everything slow runs on the delivery
 * pool, one task at a time per request and in order, so the loop never waits for a caller.
 *
 * <p>A stop string is found in the text a little after the token that completed it was sampled:
 * the tracker then asks the executor to stop the request and drops the tokens generated meanwhile.
 */
final class RequestTracker implements GenerationListener {
    private final String requestId;
    private final String prompt;
    private final int[] promptIds;
    /** Null with skip_tokenizer_init: the text stays empty. */
    private final @Nullable Tokenizer tokenizer;
    private final SamplingParams params;
    private final @Nullable Consumer<RequestOutput> onUpdate;
    private final Consumer<String> stopRequest;
    private final CompletableFuture<RequestOutput> result = new CompletableFuture<>();
    private final long arrivalNanos = System.nanoTime();
    private final Executor delivery;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicInteger pendingTasks = new AtomicInteger();
    /** Whether text is produced token by token (streaming or stop strings), off the loop thread. */
    private final boolean incremental;

    // Below: touched only by delivery tasks, which never run concurrently (and, when not
    // incremental, by the executor's loop thread before the finish task is queued).
    private final @Nullable IncrementalDetokenizer detok;
    private final @Nullable StopStringMatcher stops;
    private final List<TokenLogprob> logprobs = new ArrayList<>();
    private final List<TokenLogprob> promptLogprobs = new ArrayList<>();
    private final StringBuilder text = new StringBuilder();
    private double cumulativeLogprob;
    private boolean haveLogprobs;
    private int[] ids = new int[32];
    private int count;
    /** Ids that belong to the text: all but a final stop/EOS token. */
    private int textCount;
    /** Ids already turned into text. */
    private int detokenized;
    /** Ids already reported in a token diff. */
    private int reported;
    private @Nullable String stopString;
    // Written on the loop thread before the finish task is queued, read by that task.
    private long lastTokenNanos;
    private long[] gaps = new long[0];
    private int gapCount;
    private float @Nullable [] contextLogits;
    private int logitsVocab;
    private final List<float[]> generationLogits = new ArrayList<>();

    /**
     * @param onUpdate    called with each streamed update (text and token diffs) and the final output,
     *                    or null when the caller only wants the final output
     * @param stopRequest asks the executor to end request {@code requestId} with reason STOP
     */
    RequestTracker(String requestId, String prompt, int[] promptIds, @Nullable Tokenizer tokenizer, SamplingParams params,
                   @Nullable Consumer<RequestOutput> onUpdate, Consumer<String> stopRequest, Executor delivery) {
        this.requestId = requestId;
        this.prompt = prompt;
        this.promptIds = promptIds;
        this.tokenizer = tokenizer;
        this.params = params;
        this.onUpdate = onUpdate;
        this.stopRequest = stopRequest;
        this.delivery = delivery;
        this.stops = params.stop().isEmpty() ? null : new StopStringMatcher(params.stop(), params.includeStopStrInOutput());
        this.incremental = tokenizer != null && params.detokenize() && (onUpdate != null || stops != null);
        // Output text reads as it does after the prompt (vLLM's detokenizer): " was" after "The cat".
        this.detok = incremental ? tokenizer.newDetokenizer(params.skipSpecialTokens(), promptIds) : null;
    }

    CompletableFuture<RequestOutput> result() {
        return result;
    }

    @Override
    public void onToken(SampledToken token, @Nullable FinishReason finish) {
        long now = System.nanoTime(); // on the loop thread, as the token is produced (not as it is delivered)
        if (lastTokenNanos != 0) {
            if (gapCount == gaps.length) {
                gaps = Arrays.copyOf(gaps, Math.max(16, gapCount * 2));
            }
            gaps[gapCount++] = now - lastTokenNanos;
        }
        lastTokenNanos = now;
        if (!incremental) {
            record(token, finish); // nothing to stream: record here; the finish task comes after
            return;
        }
        deliver(() -> {
            if (stopString != null) {
                return; // generated after a stop string, before the executor stopped: dropped
            }
            record(token, finish);
            if (finish != null) {
                return; // the finish task turns the last ids into text and sends the final output
            }
            String diff = emitText();
            if (onUpdate != null && stopString == null && (!diff.isEmpty() || count > reported)) {
                onUpdate.accept(output(diff, null, null, new RequestMetrics(promptIds.length, count, 0, arrivalNanos, 0, 0)));
            }
        });
    }

    private void record(SampledToken token, @Nullable FinishReason finish) {
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, count * 2);
        }
        ids[count++] = token.tokenId();
        if (finish != FinishReason.STOP) {
            textCount = count;
        }
        if (token.hasLogprob()) {
            haveLogprobs = true;
            cumulativeLogprob += token.logprob();
            if (params.logprobs() != null) {
                logprobs.add(new TokenLogprob(token.tokenId(), token.logprob(), token.topTokenIds(), token.topLogprobs()));
            }
        }
    }

    /** Detokenizes the new text ids, runs the stop strings over them, returns the text safe to show. */
    private String emitText() {
        StringBuilder delta = new StringBuilder();
        while (detokenized < textCount) {
            delta.append(detok.add(ids[detokenized++]));
        }
        return screen(delta.toString());
    }

    private String screen(String delta) {
        if (stops == null) {
            text.append(delta);
            return delta;
        }
        StopStringMatcher.Result r = stops.feed(delta);
        text.append(r.text());
        if (r.stopString() != null) {
            stopString = r.stopString();
            // Keep the ids up to the token that completed the stop string; stop the request.
            stopRequest.accept(requestId);
        }
        return r.text();
    }

    @Override
    public void onPromptLogprobs(int fromPosition, List<SampledToken> values) {
        List<TokenLogprob> converted = values.stream()
                .map(t -> new TokenLogprob(t.tokenId(), t.logprob(), t.topTokenIds(), t.topLogprobs())).toList();
        if (incremental) {
            deliver(() -> promptLogprobs.addAll(converted));
        } else {
            promptLogprobs.addAll(converted); // loop thread, before the finish task is queued
        }
    }

    @Override
    public void onContextLogits(int fromPosition, int rows, float[] values) {
        if (contextLogits == null) {
            logitsVocab = values.length / rows;
            contextLogits = new float[promptIds.length * logitsVocab];
        }
        System.arraycopy(values, 0, contextLogits, fromPosition * logitsVocab, values.length);
    }

    @Override
    public void onGenerationLogits(float[] row) {
        logitsVocab = row.length;
        generationLogits.add(row);
    }

    /** The rows of the tokens kept (those generated after a stop string was found are dropped). */
    private @Nullable Logits generationLogits() {
        if (!params.returnGenerationLogits() || logitsVocab == 0) {
            return null;
        }
        int rows = Math.min(generationLogits.size(), count);
        float[] values = new float[rows * logitsVocab];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(generationLogits.get(r), 0, values, r * logitsVocab, logitsVocab);
        }
        return new Logits(rows, logitsVocab, values);
    }

    @Override
    public void onFinish(FinishReason reason, RequestStats stats) {
        deliver(() -> {
            String diff;
            if (!params.detokenize() || tokenizer == null) {
                diff = "";
            } else if (incremental) {
                if (stopString == null) {
                    StringBuilder rest = new StringBuilder(emitText());
                    String tail = detok.flush();
                    if (stopString == null) {
                        rest.append(screen(tail));
                    }
                    if (stopString == null && stops != null) {
                        String held = stops.flush();
                        text.append(held);
                        rest.append(held);
                    }
                    diff = rest.toString();
                } else {
                    diff = "";
                }
            } else {
                diff = IncrementalDetokenizer.decodeAfter(tokenizer, promptIds, Arrays.copyOf(ids, textCount),
                        params.skipSpecialTokens());
                text.append(diff);
            }
            String finish;
            Object stopReason = null;
            if (stopString != null) {
                finish = CompletionOutput.STOP;
                stopReason = stopString;
            } else {
                finish = switch (reason) {
                    case STOP -> CompletionOutput.STOP;
                    case LENGTH -> CompletionOutput.LENGTH;
                    case CANCELLED -> CompletionOutput.CANCELLED;
                };
                if (reason == FinishReason.STOP && count > 0 && params.stopTokenIds().contains(ids[count - 1])) {
                    stopReason = ids[count - 1];
                }
            }
            var metrics = new RequestMetrics(stats.promptTokens(), count, stats.cachedPromptTokens(),
                    stats.arrivalNanos(), stats.scheduledNanos(), stats.firstTokenNanos(), stats.finishNanos(),
                    stats.preemptions(), Arrays.copyOf(gaps, Math.min(gapCount, Math.max(0, count - 1))));
            var out = output(onUpdate == null ? text.toString() : diff, finish, stopReason, metrics);
            if (onUpdate != null) {
                onUpdate.accept(out);
            }
            result.complete(out);
        });
    }

    @Override
    public void onFailure(Throwable error) {
        deliver(() -> result.completeExceptionally(error));
    }

    private RequestOutput output(String textDiff, @Nullable String finish, @Nullable Object stopReason,
                                 RequestMetrics metrics) {
        int[] all = Arrays.copyOf(ids, count);
        int[] idsDiff = Arrays.copyOfRange(ids, Math.min(reported, count), count);
        reported = count;
        boolean last = finish != null;
        var completion = new CompletionOutput(0, text.toString(), all, haveLogprobs ? cumulativeLogprob : null, logprobs,
                finish, stopReason, textDiff, idsDiff, last ? generationLogits() : null);
        Logits context = last && contextLogits != null ? new Logits(promptIds.length, logitsVocab, contextLogits) : null;
        return new RequestOutput(requestId, prompt, promptIds, List.of(completion), last, metrics,
                last ? promptLogprobs : List.of(), context);
    }

    /** Runs {@code task} after the ones before it, on the delivery pool. */
    private void deliver(Runnable task) {
        tasks.add(task);
        if (pendingTasks.getAndIncrement() == 0) {
            delivery.execute(this::drain);
        }
    }

    private void drain() {
        do {
            Runnable task = tasks.poll();
            try {
                task.run();
            } catch (Throwable e) {
                // The caller's callback or our own code failed: the request ends with this error (and
                // LLM aborts it in the engine when the result completes exceptionally).
                result.completeExceptionally(e);
            }
        } while (pendingTasks.decrementAndGet() != 0);
    }
}
