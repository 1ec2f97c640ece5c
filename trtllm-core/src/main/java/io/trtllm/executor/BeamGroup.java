package io.trtllm.executor;

import io.trtllm.sampling.LogSoftmax;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.Sampler;
import io.trtllm.sampling.SamplingConfig;
import io.trtllm.sampling.TopN;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * The beams of one beam-search request: one sequence group inside the executor. The prompt is prefilled once
 * (as the group's {@link Sequence}, under its id); from then on every step decodes all live beams in the same
 * pass, each from its own block table, and {@link #advance} turns their logits rows into the next beams.
 *
 * <p>A step (TensorRT-LLM's and Hugging Face's beam search): each live beam's row is turned into
 * log-probabilities ({@code log_softmax} of the raw logits); its {@code 2 × width} most likely continuations
 * become candidates scored by cumulative log-probability; candidates are taken best first: one ending with an
 * end token (EOS unless ignored, a stop token id) or a stop string becomes a finished hypothesis, the others
 * become the next beams until {@code width} are found. The first child of a beam takes over its block table;
 * every further child shares it ({@link KvCacheManager#fork}), the full blocks for good and the last partial
 * block until one of them writes into it (copy on write). A beam no child continues frees its blocks.
 *
 * <p>Hypotheses are ranked by {@link BeamSearchConfig#score}; when the search ends ({@link BeamSearchConfig}
 * says when) the live beams join them unless it stopped early, and the {@code width} best are its result.
 *
 * <p>Not thread-safe: the executor loop owns it.
 */
final class BeamGroup {
    /** Block-table ids of forked beams: negative, so they never meet a sequence's (positive) id. */
    private static final AtomicLong FORK_IDS = new AtomicLong();

    /** A beam's log-probabilities, newest first, shared with the beams forked from it. */
    private record Link(SampledToken token, @Nullable Link previous) {
    }

    /** One live beam: where its KV lives and what it holds. */
    static final class Beam {
        long kvId;
        /** Prompt and generated tokens. */
        final int[] tokens;
        final double cumulative;
        final @Nullable Link logprobs;
        /** Where the beam stands in the request's guide, or null without one. */
        final @Nullable BeamGuide guide;
        /** Positions [0, computed) have their keys and values in the beam's blocks. */
        int computed;

        Beam(long kvId, int[] tokens, double cumulative, @Nullable Link logprobs, @Nullable BeamGuide guide, int computed) {
            this.kvId = kvId;
            this.tokens = tokens;
            this.cumulative = cumulative;
            this.logprobs = logprobs;
            this.guide = guide;
            this.computed = computed;
        }

        int length() {
            return tokens.length;
        }
    }

    /** A step's buffers, kept between steps: a step allocates only what outlives it (the next beams). */
    private static final class Scratch {
        float[] topLogits = new float[0];
        int[] topTokens = new int[0];
        double[] logZ = new double[0];
        boolean[] continued = new boolean[0];
        int[] candidateRow = new int[0];
        int[] candidateToken = new int[0];
        double[] candidateCumulative = new double[0];
        int[] order = new int[0];

        void ensure(int beams, int perBeam) {
            if (topLogits.length < perBeam) {
                topLogits = new float[perBeam];
                topTokens = new int[perBeam];
            }
            if (logZ.length < beams) {
                logZ = new double[beams];
                continued = new boolean[beams];
            }
            int candidates = beams * perBeam;
            if (candidateRow.length < candidates) {
                candidateRow = new int[candidates];
                candidateToken = new int[candidates];
                candidateCumulative = new double[candidates];
                order = new int[candidates];
            }
        }
    }

    private record Hypothesis(int[] generated, double cumulative, double score, @Nullable Link logprobs,
                              FinishReason reason) {
    }

    final BeamSearchConfig config;
    private final int promptLength;
    private final int maxTokens;
    private final SamplingConfig sampling;
    private List<Beam> live = new ArrayList<>();
    private final List<Hypothesis> finished = new ArrayList<>();
    private final Scratch scratch = new Scratch();
    private int steps;
    private boolean done;
    private boolean stoppedEarly;

    BeamGroup(BeamSearchConfig config, int promptLength, int maxTokens, SamplingConfig sampling) {
        this.config = config;
        this.promptLength = promptLength;
        this.maxTokens = maxTokens;
        this.sampling = sampling;
    }

    /** Whether the prompt has been prefilled and the beams decode. */
    boolean decoding() {
        return !live.isEmpty();
    }

    /** The live beams, best (by cumulative log-probability) first. */
    List<Beam> live() {
        return Collections.unmodifiableList(live);
    }

    /** Steps taken: tokens each beam has generated. */
    int steps() {
        return steps;
    }

    /** Starts decoding from the prefilled prompt, whose blocks are those of {@code kvId}. */
    void start(long kvId, int[] prompt, int computed) {
        if (decoding() || done) {
            throw new IllegalStateException("the beam search has already started");
        }
        live = new ArrayList<>(List.of(new Beam(kvId, prompt, 0, null, config.guide(), computed)));
    }

    /**
     * One step from the logits row of each live beam ({@code rows[i]} at {@code offsets[i]}, {@code vocab} wide,
     * in the order of {@link #live()}): the next beams, their blocks forked or freed in {@code kv}.
     *
     * @return whether the search is done: then {@link #ranked} is its result and every beam's blocks are freed
     */
    boolean advance(float[][] rows, int[] offsets, int vocab, KvCacheManager kv) {
        if (rows.length != live.size()) {
            throw new IllegalStateException("beam step got " + rows.length + " rows for " + live.size() + " live beams");
        }
        int width = config.width();
        int perBeam = Math.min(2 * width, vocab);
        int count = candidates(rows, offsets, vocab, perBeam);
        List<Beam> next = new ArrayList<>(width);
        boolean[] continued = scratch.continued;
        Arrays.fill(continued, 0, rows.length, false);
        for (int k = 0; k < count && next.size() < width; k++) {
            int c = scratch.order[k];
            int row = scratch.candidateRow[c];
            int token = scratch.candidateToken[c];
            double cumulative = scratch.candidateCumulative[c];
            Beam parent = live.get(row);
            BeamGuide guide = null;
            if (parent.guide != null) {
                guide = parent.guide.after(token);
                if (guide == null) {
                    continue; // the mask allowed it, so this guards the invariant
                }
            }
            int[] tokens = Arrays.copyOf(parent.tokens, parent.tokens.length + 1);
            tokens[tokens.length - 1] = token;
            Link logprobs = sampling.logprobs() == SamplingConfig.NO_LOGPROBS ? null
                    : new Link(Sampler.logprobs(rows[row], offsets[row], vocab, token, sampling.logprobs(), scratch.logZ[row]),
                            parent.logprobs);
            boolean ends = sampling.isEndToken(token) || (guide != null && guide.terminated());
            int[] generated = null;
            if (!ends && config.stopsText() != null) {
                generated = Arrays.copyOfRange(tokens, promptLength, tokens.length);
                ends = config.stopsText().test(generated);
            }
            if (ends) {
                if (generated == null) {
                    generated = Arrays.copyOfRange(tokens, promptLength, tokens.length);
                }
                addFinished(new Hypothesis(generated, cumulative, config.score(cumulative, generated.length), logprobs,
                        FinishReason.STOP));
                continue;
            }
            long kvId;
            if (!continued[row]) {
                continued[row] = true;
                kvId = parent.kvId; // the first child takes its parent's blocks over
            } else {
                kvId = FORK_IDS.decrementAndGet();
                kv.fork(parent.kvId, kvId);
            }
            next.add(new Beam(kvId, tokens, cumulative, logprobs, guide, parent.computed));
        }
        for (int i = 0; i < live.size(); i++) {
            if (!continued[i]) {
                kv.free(live.get(i).kvId);
            }
        }
        live = next;
        steps++;
        if (live.isEmpty() || steps >= maxTokens || stopsEarly()) {
            finish(kv);
        }
        return done;
    }

    /**
     * Fills the scratch with every live beam's {@code perBeam} most likely continuations, scored by cumulative
     * log-probability, and {@link Scratch#order} with them best first (stable: ties keep beam order, then the
     * row's order); returns how many. The top-k runs on the raw logits (log-softmax keeps a row's order) and the
     * row's log-normalizer is subtracted once per candidate: two passes over each row, vectorized ({@link TopN},
     * {@link LogSoftmax}).
     */
    private int candidates(float[][] rows, int[] offsets, int vocab, int perBeam) {
        scratch.ensure(rows.length, perBeam);
        int count = 0;
        for (int i = 0; i < rows.length; i++) {
            Beam parent = live.get(i);
            if (parent.guide != null) {
                // Scored on the masked row: its log-probabilities are those of the allowed tokens, renormalized.
                rows[i] = Arrays.copyOfRange(rows[i], offsets[i], offsets[i] + vocab);
                offsets[i] = 0;
                parent.guide.mask(rows[i], 0, vocab);
            }
            TopN.select(rows[i], offsets[i], vocab, perBeam, scratch.topLogits, scratch.topTokens);
            double logZ = LogSoftmax.logNormalizer(rows[i], offsets[i], vocab, scratch.topLogits[0]);
            scratch.logZ[i] = logZ;
            if (logZ == Double.NEGATIVE_INFINITY) {
                continue; // the guide allows nothing here: the beam has no continuation
            }
            for (int k = 0; k < perBeam; k++) {
                float logit = scratch.topLogits[k];
                if (logit == Float.NEGATIVE_INFINITY) {
                    break; // fewer tokens allowed than candidates asked for
                }
                // As Sampler.logprobs: the float log-probability, summed in double.
                float logprob = (float) (logit - logZ);
                scratch.candidateRow[count] = i;
                scratch.candidateToken[count] = scratch.topTokens[k];
                scratch.candidateCumulative[count] = parent.cumulative + logprob;
                count++;
            }
        }
        // Insertion sort of at most width × 2·width candidates, stable: one moves up only past a strictly worse one.
        int[] order = scratch.order;
        double[] score = scratch.candidateCumulative;
        for (int k = 0; k < count; k++) {
            int j = k;
            while (j > 0 && score[order[j - 1]] < score[k]) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = k;
        }
        return count;
    }

    /** Whether the search is done before max_tokens: early stopping as {@link BeamSearchConfig} says. */
    private boolean stopsEarly() {
        if (finished.size() < config.width() || config.earlyStopping() > 1) {
            return false;
        }
        if (config.earlyStopping() == BeamSearchConfig.EARLY_STOP) {
            return true;
        }
        // Heuristic: the best live beam, scored at its current length, cannot beat the worst kept hypothesis.
        Beam best = live.getFirst();
        double worst = finished.getLast().score();
        return config.score(best.cumulative, best.length() - promptLength) <= worst;
    }

    private void finish(KvCacheManager kv) {
        stoppedEarly = !live.isEmpty() && steps < maxTokens;
        release(kv);
        done = true;
    }

    /** Keeps the {@code width} best finished hypotheses, best first (ties: the earlier first). */
    private void addFinished(Hypothesis h) {
        finished.add(h);
        finished.sort(Comparator.comparingDouble(Hypothesis::score).reversed());
        if (finished.size() > config.width()) {
            finished.removeLast();
        }
    }

    /**
     * The best {@code width} hypotheses, best score first: the finished ones, and, unless the search stopped
     * early, the live beams (at max_tokens: {@code LENGTH}). While the search runs, what it would return now.
     */
    List<BeamHypothesis> ranked() {
        List<Hypothesis> all = new ArrayList<>(finished);
        if (!stoppedEarly) {
            for (Beam b : live) {
                int[] generated = Arrays.copyOfRange(b.tokens, promptLength, b.tokens.length);
                all.add(new Hypothesis(generated, b.cumulative, config.score(b.cumulative, generated.length), b.logprobs,
                        done ? FinishReason.LENGTH : null));
            }
        }
        all.sort(Comparator.comparingDouble(Hypothesis::score).reversed());
        List<BeamHypothesis> out = new ArrayList<>();
        for (Hypothesis h : all.subList(0, Math.min(config.width(), all.size()))) {
            out.add(new BeamHypothesis(h.generated(), h.cumulative(), h.score(), toList(h.logprobs()), h.reason()));
        }
        return out;
    }

    /** Why the request ends: the best hypothesis's reason. */
    FinishReason finishReason() {
        List<BeamHypothesis> best = ranked();
        return best.isEmpty() || best.getFirst().finishReason() == null ? FinishReason.LENGTH
                : best.getFirst().finishReason();
    }

    /** Frees every live beam's blocks (the search ended, was cancelled, failed or is preempted). */
    void release(KvCacheManager kv) {
        for (Beam b : live) {
            if (kv.contains(b.kvId)) {
                kv.free(b.kvId);
            }
        }
    }

    /**
     * Preemption: the search starts over from its prompt (its blocks freed, its beams and hypotheses
     * dropped). Beam search is deterministic, so it finds the same result again.
     */
    void restart(KvCacheManager kv) {
        release(kv);
        live = new ArrayList<>();
        finished.clear();
        steps = 0;
        done = false;
        stoppedEarly = false;
    }

    private static List<SampledToken> toList(@Nullable Link link) {
        List<SampledToken> out = new ArrayList<>();
        for (Link l = link; l != null; l = l.previous()) {
            out.add(l.token());
        }
        Collections.reverse(out);
        return out;
    }
}
