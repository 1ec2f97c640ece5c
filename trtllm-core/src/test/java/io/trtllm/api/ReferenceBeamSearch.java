package io.trtllm.api;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * The beam search this project ran before beams ran inside the executor (main's {@code BeamSearch} of
 * 2026-12-06, guides left out): every step is one request per beam asking for its {@code 2 × width} most likely
 * next tokens; candidates are ranked by cumulative log-probability, those ending with an end token set aside; no
 * early stopping; finished and live beams ranked by {@code cumulative / length^length_penalty} at the end. Kept
 * in test code as the reference the executor's beam search must agree with.
 */
final class ReferenceBeamSearch {
    private record Beam(int[] tokens, double cumulative, boolean finished) {
        double score(float lengthPenalty) {
            return cumulative / Math.pow(Math.max(1, tokens.length), lengthPenalty);
        }
    }

    /** One result: generated ids (an ending end token included) and cumulative log-probability. */
    record Result(int[] tokenIds, double cumulativeLogprob) {
    }

    private ReferenceBeamSearch() {
    }

    static List<Result> run(LLM llm, int[] promptIds, int width, int n, int maxTokens, float lengthPenalty, Set<Integer> eosIds) {
        var stepParams = SamplingParams.builder().maxTokens(1).temperature(0).logprobs(2 * width).ignoreEos(true).build();
        List<Beam> live = List.of(new Beam(new int[0], 0, false));
        List<Beam> finished = new ArrayList<>();
        for (int t = 0; t < maxTokens && !live.isEmpty(); t++) {
            List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
            for (Beam b : live) {
                int[] input = Arrays.copyOf(promptIds, promptIds.length + b.tokens().length);
                System.arraycopy(b.tokens(), 0, input, promptIds.length, b.tokens().length);
                futures.add(llm.generateAsync(input, stepParams));
            }
            List<Beam> candidates = new ArrayList<>();
            for (int i = 0; i < live.size(); i++) {
                Beam b = live.get(i);
                TokenLogprob lp = futures.get(i).join().output().logprobs().getFirst();
                int[] ids = lp.topTokenIds();
                float[] lps = lp.topLogprobs();
                for (int k = 0; k < ids.length; k++) {
                    int[] tokens = Arrays.copyOf(b.tokens(), b.tokens().length + 1);
                    tokens[tokens.length - 1] = ids[k];
                    candidates.add(new Beam(tokens, b.cumulative() + lps[k], eosIds.contains(ids[k])));
                }
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
        all.sort(Comparator.comparingDouble((Beam b) -> b.score(lengthPenalty)).reversed());
        return all.subList(0, Math.min(n, all.size())).stream().map(b -> new Result(b.tokens(), b.cumulative())).toList();
    }
}
