package io.trtllm.api;

import io.trtllm.executor.FinishReason;
import io.trtllm.executor.GenerationListener;
import io.trtllm.executor.RequestStats;
import io.trtllm.tokenizer.IncrementalDetokenizer;
import io.trtllm.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * Turns one request's executor events into {@link RequestOutput}s. The executor calls it on its
 * loop thread; everything slow (detokenization, the caller's callbacks) runs on the delivery pool,
 * one task at a time per request and in order, so the loop never waits for a caller.
 */
final class RequestTracker implements GenerationListener {
    private final String requestId;
    private final String prompt;
    private final int[] promptIds;
    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private final @Nullable Consumer<RequestOutput> onUpdate;
    private final CompletableFuture<RequestOutput> result = new CompletableFuture<>();
    private final long arrivalNanos = System.nanoTime();
    private final Executor delivery;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicInteger pendingTasks = new AtomicInteger();

    // Below: touched only by delivery tasks, which never run concurrently (and, when nothing is
    // streamed, by the executor's loop thread before the finish task is queued).
    private final @Nullable IncrementalDetokenizer detok;
    private int[] ids = new int[32];
    private int count;
    /** Ids that belong to the text: all but a final stop/EOS token. */
    private int textCount;
    /** Ids already turned into streamed text. */
    private int detokenized;
    /** Ids already reported in a token diff. */
    private int reported;

    /**
     * @param onUpdate called with each streamed update (text and token diffs) and the final output,
     *                 or null when the caller only wants the final output (its text is then
     *                 decoded once, at the end)
     */
    RequestTracker(String requestId, String prompt, int[] promptIds, Tokenizer tokenizer, boolean skipSpecialTokens,
                   @Nullable Consumer<RequestOutput> onUpdate, Executor delivery) {
        this.requestId = requestId;
        this.prompt = prompt;
        this.promptIds = promptIds;
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
        this.onUpdate = onUpdate;
        this.delivery = delivery;
        this.detok = onUpdate != null ? tokenizer.newDetokenizer(skipSpecialTokens) : null;
    }

    CompletableFuture<RequestOutput> result() {
        return result;
    }

    @Override
    public void onToken(int tokenId, @Nullable FinishReason finish) {
        if (detok == null) {
            // Nothing to stream: just record the id, here on the loop thread; the finish task reads
            // the ids after this (the task queue orders the two).
            record(tokenId, finish);
            return;
        }
        deliver(() -> {
            record(tokenId, finish);
            if (finish == null) {
                String diff = detokenize();
                if (!diff.isEmpty()) {
                    onUpdate.accept(output(diff, null, new RequestMetrics(promptIds.length, count, 0, arrivalNanos, 0, 0)));
                }
            }
        });
    }

    private void record(int tokenId, @Nullable FinishReason finish) {
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, count * 2);
        }
        ids[count++] = tokenId;
        if (finish != FinishReason.STOP) {
            textCount = count;
        }
    }

    @Override
    public void onFinish(FinishReason reason, RequestStats stats) {
        deliver(() -> {
            String finish = switch (reason) {
                case STOP -> CompletionOutput.STOP;
                case LENGTH -> CompletionOutput.LENGTH;
                case CANCELLED -> CompletionOutput.CANCELLED;
            };
            String diff = detok != null ? detokenize() + detok.flush()
                    : tokenizer.decode(Arrays.copyOf(ids, textCount), skipSpecialTokens);
            var metrics = new RequestMetrics(stats.promptTokens(), stats.generatedTokens(), stats.cachedPromptTokens(),
                    stats.arrivalNanos(), stats.firstTokenNanos(), stats.finishNanos());
            var out = output(diff, finish, metrics);
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

    /** Text that the text ids received since the last call complete. */
    private String detokenize() {
        StringBuilder diff = new StringBuilder();
        while (detokenized < textCount) {
            diff.append(detok.add(ids[detokenized++]));
        }
        return diff.toString();
    }

    private RequestOutput output(String textDiff, @Nullable String finish, RequestMetrics metrics) {
        String text = detok != null ? detok.text() : textDiff;
        int[] all = Arrays.copyOf(ids, count);
        int[] idsDiff = Arrays.copyOfRange(ids, reported, count);
        reported = count;
        var completion = new CompletionOutput(0, text, all, finish, textDiff, idsDiff);
        return new RequestOutput(requestId, prompt, promptIds, List.of(completion), finish != null, metrics);
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
            } catch (RuntimeException e) {
                result.completeExceptionally(e);
            }
        } while (pendingTasks.decrementAndGet() != 0);
    }
}
