package io.trtllm.api;

import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.executor.BeamSearchConfig;
import io.trtllm.executor.Executor;
import io.trtllm.executor.FinishReason;
import io.trtllm.executor.GenerationRequest;
import io.trtllm.sampling.SamplingConfig;
import io.trtllm.sampling.guided.CompiledGuide;
import io.trtllm.sampling.guided.GuideOptions;
import io.trtllm.sampling.guided.GuideVocabulary;
import io.trtllm.sampling.guided.GuidedDecoding;
import io.trtllm.tokenizer.IncrementalDetokenizer;
import io.trtllm.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * Turns one checked request into the executor's work and its outputs back into one
 * {@link RequestOutput}: a single sample; {@code best_of} samples of the prompt, ranked to the
 * {@code n} best; or a beam search, one sequence group inside the executor ({@link BeamTracker} builds its
 * outputs). Cancelling what the caller holds aborts the samples (or the group) in the engine.
 */
final class SampleFanOut {
    private final Executor executor;
    /** Null with skip_tokenizer_init: requests then ask for nothing that needs one (checked before). */
    private final @Nullable Tokenizer tokenizer;
    private final java.util.concurrent.Executor delivery;
    private final int[] eosTokenIds;
    /** Logits per row: the width of the token masks of guided requests. */
    private final int modelVocab;
    /** What guided decoding knows of the tokenizer; built on the first guided request. */
    private volatile @Nullable GuideVocabulary guideVocabulary;

    /**
     * @param delivery    the thread that turns executor events into outputs and hands them to callers
     * @param eosTokenIds the ids that end a sequence (model config's and tokenizer's)
     * @param modelVocab  logits per row (the model's vocabulary size)
     */
    SampleFanOut(Executor executor, @Nullable Tokenizer tokenizer, java.util.concurrent.Executor delivery, int[] eosTokenIds,
                 int modelVocab) {
        this.executor = executor;
        this.tokenizer = tokenizer;
        this.delivery = delivery;
        this.eosTokenIds = eosTokenIds.clone();
        this.modelVocab = modelVocab;
    }

    /**
     * The guide of {@code params}, compiled for this tokenizer (cached by text and vocabulary), or null for a
     * free request.
     *
     * @throws io.trtllm.api.config.GuidedDecodingException for a guide that is invalid, unsupported, matches
     *                                                      nothing or is too large
     */
    @Nullable CompiledGuide guide(SamplingParams params) {
        GuidedDecodingParams guided = params.guidedDecoding();
        if (guided == null) {
            return null;
        }
        GuideOptions options = guided.compactWhitespace()
                ? new GuideOptions(0, GuideOptions.DEFAULT.maxDepth()) : GuideOptions.DEFAULT;
        return GuidedDecoding.compile(guided, guideVocabulary(), options);
    }

    private GuideVocabulary guideVocabulary() {
        Tokenizer tokenizer = this.tokenizer;
        if (tokenizer == null) {
            throw new IllegalArgumentException("guided decoding needs the tokenizer's vocabulary, and skip_tokenizer_init "
                    + "is set");
        }
        GuideVocabulary v = guideVocabulary;
        if (v == null) {
            synchronized (this) {
                v = guideVocabulary;
                if (v == null) {
                    // Ids the tokenizer does not know (padding of the model's vocabulary) are never allowed.
                    int known = tokenizer.vocabSize();
                    List<Integer> ends = java.util.Arrays.stream(eosTokenIds).filter(id -> id < modelVocab).boxed().toList();
                    // Output text is decoded in the prompt's context (RequestTracker): the first token keeps its
                    // leading space (" cats" after "The"), so the guide sees every token's bytes as they are.
                    v = GuideVocabulary.of(modelVocab, id -> id < known ? tokenizer.tokenBytes(id) : null, ends, false);
                    guideVocabulary = v;
                }
            }
        }
        return v;
    }

    /** Queues the samples (or the beam group) of {@code params} for the prompt {@code ids}; the result completes with all of them. */
    CompletableFuture<RequestOutput> submit(String requestId, String prompt, int[] ids, SamplingParams params,
                                            @Nullable Consumer<RequestOutput> onUpdate) {
        var sampling = (tokenizer != null ? params.toSamplingConfig(eosTokenIds, word -> tokenizer.encode(word, false))
                : params.toSamplingConfig(eosTokenIds));
        if (params.useBeamSearch()) {
            return beamGroup(requestId, prompt, ids, params, sampling, onUpdate);
        }
        sampling = sampling.withGuide(guide(params));
        if (params.bestOf() == 1) {
            return submitOne(requestId, requestId, prompt, ids, params, sampling, 0, onUpdate);
        }
        // best_of samples of the same prompt, each with its own split of the seed's random stream;
        // the n with the highest cumulative log-probability are returned (all of them when n == best_of).
        List<CompletableFuture<RequestOutput>> samples = new ArrayList<>();
        try {
            for (int i = 0; i < params.bestOf(); i++) {
                samples.add(submitOne(requestId, requestId + "-" + i, prompt, ids, params, sampling, i, null));
            }
        } catch (RuntimeException e) {
            samples.forEach(f -> f.cancel(true));
            throw e;
        }
        CompletableFuture<RequestOutput> combined = CompletableFuture.allOf(samples.toArray(CompletableFuture[]::new))
                .thenApply(done -> rank(requestId, prompt, ids, params, samples.stream().map(CompletableFuture::join).toList()));
        combined.whenComplete((r, e) -> {
            if (e != null) {
                samples.forEach(f -> f.cancel(true)); // one failed, timed out or was cancelled: stop them all
            }
        });
        return combined;
    }

    /**
     * A beam search inside the executor: one sequence group whose beams share the prompt's blocks
     * ({@link io.trtllm.executor.Executor#submit(GenerationRequest, BeamSearchConfig,
     * io.trtllm.executor.GenerationListener)}); stop strings are checked there on each kept beam's text.
     */
    private CompletableFuture<RequestOutput> beamGroup(String requestId, String prompt, int[] ids, SamplingParams params,
                                                      SamplingConfig sampling, @Nullable Consumer<RequestOutput> onUpdate) {
        Tokenizer tok = tokenizer;
        java.util.function.Predicate<int[]> stops = params.stop().isEmpty() || tok == null ? null : generated -> {
            String text = IncrementalDetokenizer.decodeAfter(tok, ids, generated, params.skipSpecialTokens());
            for (String stop : params.stop()) {
                if (text.contains(stop)) {
                    return true;
                }
            }
            return false;
        };
        CompiledGuide guide = guide(params); // compiled here: a bad guide is refused before the search is queued
        var beams = new BeamSearchConfig(params.beamWidth(), params.lengthPenalty(), params.earlyStopping(), stops,
                onUpdate != null, guide == null ? null : new GuidedBeam(guide.newMatcher()));
        var tracker = new BeamTracker(requestId, prompt, ids, tokenizer, params, sampling, onUpdate, delivery);
        try {
            executor.submit(new GenerationRequest(requestId, ids, params.maxTokens(), sampling), beams, tracker);
        } catch (io.trtllm.executor.QueueFullException e) {
            throw new QueueFullException(e.getMessage(), e);
        }
        CompletableFuture<RequestOutput> handle = tracker.result().whenComplete((r, e) -> { });
        handle.whenComplete((r, e) -> {
            if (e != null) {
                executor.abort(requestId); // cancelled, timed out or failed: free the group's blocks (no-op once done)
            }
        });
        return handle;
    }

    private CompletableFuture<RequestOutput> submitOne(String requestId, String sampleId, String prompt, int[] ids,
                                                       SamplingParams params, SamplingConfig sampling, int index,
                                                       @Nullable Consumer<RequestOutput> onUpdate) {
        var tracker = new RequestTracker(requestId, prompt, ids, tokenizer, params, onUpdate,
                id -> executor.abort(sampleId, FinishReason.STOP), delivery);
        int promptLogprobs = params.promptLogprobs() != null && index == 0 ? params.promptLogprobs() : -1;
        try {
            executor.submit(new GenerationRequest(sampleId, ids, params.maxTokens(), sampling, index, promptLogprobs,
                    params.returnContextLogits() && index == 0, params.returnGenerationLogits()), tracker);
        } catch (io.trtllm.executor.QueueFullException e) {
            throw new QueueFullException(e.getMessage(), e);
        }
        // Cancelling what the caller holds aborts the request in the engine.
        CompletableFuture<RequestOutput> handle = tracker.result().whenComplete((r, e) -> { });
        handle.whenComplete((r, e) -> {
            if (e != null) {
                executor.abort(sampleId); // cancelled, timed out or failed: stop the engine's work (no-op once done)
            }
        });
        return handle;
    }

    /** The n best of the samples by cumulative log-probability (all, in sample order, when n == best_of). */
    private static RequestOutput rank(String requestId, String prompt, int[] promptIds, SamplingParams params,
                                      List<RequestOutput> samples) {
        List<CompletionOutput> outputs = new ArrayList<>(samples.stream().map(RequestOutput::output).toList());
        if (params.bestOf() > params.n()) {
            outputs.sort(Comparator.comparingDouble(
                    (CompletionOutput o) -> o.cumulativeLogprob() != null ? o.cumulativeLogprob() : Double.NEGATIVE_INFINITY)
                    .reversed());
        }
        List<CompletionOutput> best = new ArrayList<>();
        for (int i = 0; i < params.n(); i++) {
            CompletionOutput o = outputs.get(i);
            best.add(new CompletionOutput(i, o.text(), o.tokenIds(), o.cumulativeLogprob(), o.logprobs(), o.finishReason(),
                    o.stopReason(), o.textDiff(), o.tokenIdsDiff(), o.generationLogits()));
        }
        RequestMetrics first = samples.getFirst().metrics();
        int generated = samples.stream().mapToInt(r -> r.metrics().generatedTokens()).sum();
        long finish = samples.stream().mapToLong(r -> r.metrics().finishNanos()).max().orElse(0);
        long scheduled = samples.stream().mapToLong(r -> r.metrics().scheduledNanos()).filter(t -> t != 0).min().orElse(0);
        int preemptions = samples.stream().mapToInt(r -> r.metrics().preemptions()).sum();
        var metrics = new RequestMetrics(first.promptTokens(), generated, first.cachedPromptTokens(), first.arrivalNanos(),
                scheduled, first.firstTokenNanos(), finish, preemptions,
                samples.stream().flatMapToLong(r -> java.util.Arrays.stream(r.metrics().interTokenNanos())).toArray());
        return new RequestOutput(requestId, prompt, promptIds, best, true, metrics, samples.getFirst().promptLogprobs(),
                samples.getFirst().contextLogits());
    }

}
