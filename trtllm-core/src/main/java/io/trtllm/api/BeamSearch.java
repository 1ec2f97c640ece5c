package io.trtllm.api;

import io.trtllm.sampling.guided.CompiledGuide;
import io.trtllm.sampling.guided.GuideMatcher;
import io.trtllm.sampling.guided.GuidedTokenMask;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * Beam search driven over the executor, the way vLLM's {@code LLM.beam_search} does it: every step
 * asks for one token of each live beam with its {@code 2 × width} most likely continuations (raw
 * log-probabilities), keeps the {@code width} best extensions by cumulative log-probability, and
 * sets aside beams that end with an end-of-sequence token. All beams of a step run as one batch;
 * their shared prefix is served from the KV prefix cache, so a step recomputes at most the last
 * partial block of each beam. Finished and surviving beams are ranked by
 * {@code cumulative / length^length_penalty}; the best {@code n} are returned.
 *
 * <p>Sampling processors (penalties, bad words, min_tokens) and stop strings do not apply to beam
 * search, as in vLLM. Guided decoding does: each beam keeps its place in the guide, its step is masked from
 * there, and its continuations and their log-probabilities are those of the masked distribution, so every
 * beam, finished or not, is a prefix the guide allows, and a finished one a complete match.
 */
final class BeamSearch {
    /** {@code matcher}: where the beam stands in the guide (after its tokens), or null without one. */
    private record Beam(int[] tokens, double cumulative, boolean finished, @Nullable GuideMatcher matcher) {
        double score(float lengthPenalty) {
            return cumulative / Math.pow(Math.max(1, tokens.length), lengthPenalty);
        }
    }

    private BeamSearch() {
    }

    /**
     * @param step     runs one token of a prompt, returning its output with {@code 2 × width} logprobs
     * @param eosIds   tokens that end a beam (empty when {@code ignore_eos})
     * @param guide    the request's compiled guide, or null
     */
    static RequestOutput run(String requestId, String prompt, int[] promptIds, SamplingParams params, Set<Integer> eosIds,
                             @Nullable CompiledGuide guide, SampleFanOut.Step step,
                             java.util.function.Function<int[], String> decode,
                             java.util.function.BooleanSupplier cancelled) {
        int width = params.beamWidth();
        var stepParams = SamplingParams.builder().maxTokens(1).temperature(0).logprobs(2 * width).ignoreEos(true).build();
        List<Beam> live = List.of(new Beam(new int[0], 0, false, guide != null ? guide.newMatcher() : null));
        List<Beam> finished = new ArrayList<>();
        long arrival = System.nanoTime();
        long firstToken = 0;
        for (int t = 0; t < params.maxTokens() && !live.isEmpty(); t++) {
            if (cancelled.getAsBoolean()) {
                throw new java.util.concurrent.CancellationException("beam search " + requestId + " was cancelled");
            }
            List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
            for (Beam b : live) {
                int[] input = Arrays.copyOf(promptIds, promptIds.length + b.tokens().length);
                System.arraycopy(b.tokens(), 0, input, promptIds.length, b.tokens().length);
                GuideMatcher m = b.matcher();
                futures.add(step.run(input, stepParams, m == null ? null : () -> new GuidedTokenMask(m.fork(), true)));
            }
            List<Beam> candidates = new ArrayList<>();
            List<RequestOutput> steps = new ArrayList<>();
            try {
                for (var f : futures) {
                    steps.add(f.join());
                }
            } catch (RuntimeException e) {
                futures.forEach(f -> f.cancel(true));
                throw e;
            }
            for (int i = 0; i < live.size(); i++) {
                Beam b = live.get(i);
                List<TokenLogprob> stepLogprobs = steps.get(i).output().logprobs();
                if (stepLogprobs.isEmpty()) {
                    throw new java.util.concurrent.CancellationException("beam search " + requestId
                            + ": a step ended without a token (" + steps.get(i).output().finishReason() + ")");
                }
                TokenLogprob lp = stepLogprobs.getFirst();
                int[] ids = lp.topTokenIds();
                float[] lps = lp.topLogprobs();
                for (int k = 0; k < ids.length; k++) {
                    int[] tokens = Arrays.copyOf(b.tokens(), b.tokens().length + 1);
                    tokens[tokens.length - 1] = ids[k];
                    GuideMatcher next = null;
                    if (b.matcher() != null) {
                        next = b.matcher().fork();
                        if (!next.accept(ids[k])) {
                            continue; // the step's top tokens are the allowed ones; this guards the invariant
                        }
                    }
                    boolean ends = eosIds.contains(ids[k]) || (next != null && next.isTerminated());
                    candidates.add(new Beam(tokens, b.cumulative() + lps[k], ends, next));
                }
            }
            if (firstToken == 0) {
                firstToken = System.nanoTime();
            }
            candidates.sort(Comparator.comparingDouble(Beam::cumulative).reversed());
            List<Beam> next = new ArrayList<>();
            for (Beam c : candidates) {
                if (next.size() == width) {
                    break;
                }
                if (c.finished()) {
                    finished.add(c);
                } else {
                    next.add(c);
                }
            }
            live = next;
        }
        List<Beam> all = new ArrayList<>(finished);
        all.addAll(live);
        all.sort(Comparator.comparingDouble((Beam b) -> b.score(params.lengthPenalty())).reversed());
        List<CompletionOutput> outputs = new ArrayList<>();
        int generated = 0;
        for (int i = 0; i < Math.min(params.n(), all.size()); i++) {
            Beam b = all.get(i);
            int textLength = b.finished() ? b.tokens().length - 1 : b.tokens().length;
            String text = params.detokenize() ? decode.apply(Arrays.copyOf(b.tokens(), textLength)) : "";
            String finish = b.finished() ? CompletionOutput.STOP : CompletionOutput.LENGTH;
            outputs.add(new CompletionOutput(i, text, b.tokens(), b.cumulative(), List.of(), finish, null, text, b.tokens()));
            generated += b.tokens().length;
        }
        var metrics = new RequestMetrics(promptIds.length, generated, 0, arrival, firstToken, System.nanoTime());
        return new RequestOutput(requestId, prompt, promptIds, outputs, true, metrics);
    }
}
