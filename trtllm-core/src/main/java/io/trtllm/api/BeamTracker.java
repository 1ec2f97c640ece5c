package io.trtllm.api;

import io.trtllm.executor.BeamHypothesis;
import io.trtllm.executor.FinishReason;
import io.trtllm.executor.GenerationListener;
import io.trtllm.executor.RequestStats;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.SamplingConfig;
import io.trtllm.tokenizer.IncrementalDetokenizer;
import io.trtllm.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * Turns the hypotheses of a beam search that runs inside the executor into {@link RequestOutput}s: the
 * {@code n} best, each with its text (decoded in the prompt's context; an ending end token left out, cut at a
 * stop string as a sampled output is), its cumulative log-probability, and its per-token log-probabilities when
 * asked for.
 *
 * <p>Streaming (as TensorRT-LLM streams beams: every update carries every returned beam whole): after each step
 * the caller gets the current {@code n} best, ranked as the final result would be. A beam's text may change
 * between updates, not only grow, when another beam overtakes it: {@code text} is always the beam's whole text;
 * {@code textDiff} and {@code tokenIdsDiff} are what was added to the previous update's output of the same index
 * when that is a prefix of it, else the whole output (so appending diffs is right only while they extend).
 *
 * <p>Events come on the executor's thread; the outputs are built on the delivery thread, in order.
 */
final class BeamTracker implements GenerationListener {
    private final String requestId;
    private final String prompt;
    private final int[] promptIds;
    private final @Nullable Tokenizer tokenizer;
    private final SamplingParams params;
    private final SamplingConfig sampling;
    private final @Nullable Consumer<RequestOutput> onUpdate;
    private final Executor delivery;
    private final CompletableFuture<RequestOutput> result = new CompletableFuture<>();
    private final long arrivalNanos = System.nanoTime();
    // Touched by delivery tasks only (one at a time, in order).
    private List<BeamHypothesis> beams = List.of();
    private final List<CompletionOutput> previous = new ArrayList<>();

    BeamTracker(String requestId, String prompt, int[] promptIds, @Nullable Tokenizer tokenizer, SamplingParams params,
                SamplingConfig sampling, @Nullable Consumer<RequestOutput> onUpdate, Executor delivery) {
        this.requestId = requestId;
        this.prompt = prompt;
        this.promptIds = promptIds;
        this.tokenizer = tokenizer;
        this.params = params;
        this.sampling = sampling;
        this.onUpdate = onUpdate;
        this.delivery = delivery;
    }

    CompletableFuture<RequestOutput> result() {
        return result;
    }

    /** The text of {@code generated} tokens as an output shows it (no stop string cut). */
    static String text(@Nullable Tokenizer tokenizer, int[] promptIds, int[] generated, SamplingParams params) {
        return tokenizer == null || !params.detokenize() ? ""
                : IncrementalDetokenizer.decodeAfter(tokenizer, promptIds, generated, params.skipSpecialTokens());
    }

    @Override
    public void onToken(SampledToken token, @Nullable FinishReason finish) {
        throw new IllegalStateException("a beam search gets beams, not tokens");
    }

    @Override
    public void onBeams(List<BeamHypothesis> hypotheses, boolean last) {
        deliver(() -> {
            beams = hypotheses;
            if (!last && onUpdate != null) {
                onUpdate.accept(output(null, new RequestMetrics(promptIds.length, 0, 0, arrivalNanos, 0, 0)));
            }
        });
    }

    @Override
    public void onFinish(FinishReason reason, RequestStats stats) {
        deliver(() -> {
            if (beams.isEmpty()) {
                result.completeExceptionally(new CancellationException("beam search " + requestId + " ended (" + reason
                        + ") before its first step"));
                return;
            }
            var metrics = new RequestMetrics(stats.promptTokens(), 0, stats.cachedPromptTokens(), stats.arrivalNanos(),
                    stats.firstTokenNanos(), stats.finishNanos());
            RequestOutput out = output(reason, metrics);
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

    /** The n best beams as outputs; {@code end} null while the search goes on. */
    private RequestOutput output(@Nullable FinishReason end, RequestMetrics metrics) {
        List<CompletionOutput> outputs = new ArrayList<>();
        int generated = 0;
        for (int i = 0; i < Math.min(params.n(), beams.size()); i++) {
            CompletionOutput o = completion(i, beams.get(i), end);
            outputs.add(o);
            generated += o.tokenIds().length;
        }
        if (end != null) {
            metrics = new RequestMetrics(metrics.promptTokens(), generated, metrics.cachedPromptTokens(),
                    metrics.arrivalNanos(), metrics.firstTokenNanos(), metrics.finishNanos());
        }
        return new RequestOutput(requestId, prompt, promptIds, outputs, end != null, metrics);
    }

    private CompletionOutput completion(int index, BeamHypothesis h, @Nullable FinishReason end) {
        int[] ids = h.tokenIds();
        boolean endToken = h.finishReason() == FinishReason.STOP && ids.length > 0 && sampling.isEndToken(ids[ids.length - 1]);
        String text = text(tokenizer, promptIds, endToken ? Arrays.copyOf(ids, ids.length - 1) : ids, params);
        Object stopReason = null;
        if (endToken && params.stopTokenIds().contains(ids[ids.length - 1])) {
            stopReason = ids[ids.length - 1];
        }
        // The earliest stop string in the text ends it (the search finished the beam when it appeared).
        int cut = -1;
        for (String stop : params.stop()) {
            int at = text.indexOf(stop);
            if (at >= 0 && (cut < 0 || at < cut)) {
                cut = at;
                stopReason = stop;
            }
        }
        if (cut >= 0) {
            text = text.substring(0, params.includeStopStrInOutput() ? cut + ((String) stopReason).length() : cut);
        }
        String finish = null;
        if (end == FinishReason.CANCELLED) {
            finish = CompletionOutput.CANCELLED;
        } else if (end != null) {
            finish = h.finishReason() == FinishReason.STOP || cut >= 0 ? CompletionOutput.STOP : CompletionOutput.LENGTH;
        }
        List<TokenLogprob> logprobs = params.logprobs() == null ? List.of()
                : h.logprobs().stream().map(t -> new TokenLogprob(t.tokenId(), t.logprob(), t.topTokenIds(), t.topLogprobs()))
                        .toList();
        String textDiff = text;
        int[] idsDiff = ids;
        if (index < previous.size()) {
            CompletionOutput before = previous.get(index);
            int[] old = before.tokenIds();
            if (text.startsWith(before.text()) && old.length <= ids.length
                    && Arrays.equals(old, 0, old.length, ids, 0, old.length)) {
                textDiff = text.substring(before.text().length());
                idsDiff = Arrays.copyOfRange(ids, old.length, ids.length);
            }
        }
        var out = new CompletionOutput(index, text, ids, h.cumulativeLogprob(), logprobs, finish, stopReason, textDiff, idsDiff);
        if (index < previous.size()) {
            previous.set(index, out);
        } else {
            previous.add(out);
        }
        return out;
    }

    /** Runs {@code task} on the delivery thread after the ones before it (a single thread keeps them in order). */
    private void deliver(Runnable task) {
        delivery.execute(() -> {
            try {
                task.run();
            } catch (Throwable e) {
                result.completeExceptionally(e); // the caller's callback or our own code failed
            }
        });
    }
}
