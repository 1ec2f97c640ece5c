package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.sampling.TokenBitmask;
import io.trtllm.sampling.guided.ConfigSpace.Config;
import io.trtllm.testing.Gen;
import java.io.ByteArrayOutputStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Random generations without a model: a matcher's mask, a draw among the allowed tokens, accept, until
 * the end token. A walk explores (uniform draws, or draws weighted by random per-token weights, as a
 * model's distribution would be) for a while, then heads for the end: among the allowed single-byte
 * tokens and a sample of the others it takes one that leaves the fewest bytes to complete (by a
 * breadth-first search over the guide's configurations), so every walk ends.
 */
final class Walks {
    /** A finished walk: the tokens and the text they write. */
    record Output(int[] tokens, byte[] bytes, boolean ended) {
    }

    private static final Map<Config, Integer> DISTANCE = new ConcurrentHashMap<>();
    private static final Map<SingleByteKey, int[]> SINGLE_BYTE = new ConcurrentHashMap<>();

    private record SingleByteKey(GuideVocabulary vocab, boolean first) {
    }

    /** The tokens that write one byte (as the first token of an output, or later). */
    private static int[] singleByteTokens(SingleByteKey key) {
        List<Integer> ids = new ArrayList<>();
        for (int id = 0; id < key.vocab().size(); id++) {
            byte[] b = key.vocab().effectiveBytes(id, key.first());
            if (b != null && b.length == 1) {
                ids.add(id);
            }
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    private Walks() {
    }

    static Output walk(CompiledGuide guide, Gen gen, int exploreTokens, int maxTokens) {
        GuideVocabulary vocab = guide.vocabulary();
        GuideMatcher m = guide.newMatcher();
        long[] mask = new long[TokenBitmask.words(vocab.size() + gen.intBetween(0, 100))];
        List<Integer> tokens = new ArrayList<>();
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        boolean weighted = gen.bool();
        long weightSeed = gen.anyLong();
        double endChance = gen.oneOf(0.05, 0.3, 1.0);
        while (tokens.size() < maxTokens) {
            int allowed = m.fillNextTokenMask(mask);
            assertThat(allowed).as("a live matcher allows some token (after %s)", text).isPositive();
            assertThat(TokenBitmask.count(mask)).isEqualTo(allowed);
            boolean finishing = tokens.size() >= exploreTokens;
            if (m.canTerminate() && (m.isComplete() || gen.chance(finishing ? 1.0 : endChance))) {
                int end = vocab.ends().length > 0 ? vocab.ends()[0] : -1;
                if (end >= 0) {
                    assertThat(TokenBitmask.isSet(mask, end)).isTrue();
                    assertThat(m.accept(end)).isTrue();
                    tokens.add(end);
                }
                return new Output(tokens.stream().mapToInt(Integer::intValue).toArray(), text.toByteArray(), true);
            }
            int token = finishing ? closest(guide, m, mask, gen) : draw(mask, allowed, gen, weighted, weightSeed, vocab);
            assertThat(vocab.isEnd(token)).isFalse();
            byte[] bytes = vocab.effectiveBytes(token, m.isFirst());
            assertThat(m.accept(token)).as("accepting allowed token %d", token).isTrue();
            text.writeBytes(bytes);
            tokens.add(token);
        }
        return new Output(tokens.stream().mapToInt(Integer::intValue).toArray(), text.toByteArray(), false);
    }

    /** A random allowed token that is not an end token: uniform, or by per-token weights. */
    static int draw(long[] mask, int allowed, Gen gen, boolean weighted, long weightSeed, GuideVocabulary vocab) {
        for (int attempt = 0; attempt < 2000; attempt++) {
            int id = gen.intBetween(0, vocab.size() - 1);
            if (TokenBitmask.isSet(mask, id) && !vocab.isEnd(id)
                    && (!weighted || gen.chance(weight(weightSeed, id)))) {
                return id;
            }
        }
        // Few allowed: pick among them.
        List<Integer> ids = new ArrayList<>();
        for (int w = 0; w < mask.length; w++) {
            long word = mask[w];
            while (word != 0) {
                int id = w * 64 + Long.numberOfTrailingZeros(word);
                word &= word - 1;
                if (!vocab.isEnd(id)) {
                    ids.add(id);
                }
            }
        }
        assertThat(ids).as("allowed tokens besides the end").isNotEmpty();
        return gen.oneOf(ids);
    }

    /** A weight in (0, 1] per token, fixed by the walk's seed: some tokens are far likelier than others. */
    private static double weight(long seed, int id) {
        long h = seed ^ (id * 0x9E3779B97F4A7C15L);
        h ^= h >>> 31;
        h *= 0xBF58476D1CE4E5B9L;
        h ^= h >>> 29;
        double u = (h >>> 11) * 0x1.0p-53;
        return Math.pow(u, 4) + 1e-3;
    }

    /** Among single-byte tokens and a sample of others that are allowed, one nearest to completion. */
    private static int closest(CompiledGuide guide, GuideMatcher m, long[] mask, Gen gen) {
        GuideVocabulary vocab = guide.vocabulary();
        List<Integer> candidates = new ArrayList<>();
        for (int id : SINGLE_BYTE.computeIfAbsent(new SingleByteKey(vocab, m.isFirst()), Walks::singleByteTokens)) {
            if (TokenBitmask.isSet(mask, id)) {
                candidates.add(id);
            }
        }
        for (int i = 0; i < 64; i++) {
            int id = gen.intBetween(0, vocab.size() - 1);
            if (TokenBitmask.isSet(mask, id) && !vocab.isEnd(id)) {
                candidates.add(id);
            }
        }
        int best = -1;
        int bestDistance = Integer.MAX_VALUE;
        for (int id : candidates) {
            byte[] b = vocab.effectiveBytes(id, m.isFirst());
            Config after = guide.space().walk(m.config(), b, 0);
            int d = distance(guide.space(), after);
            if (d < bestDistance || (d == bestDistance && gen.bool())) {
                best = id;
                bestDistance = d;
            }
        }
        assertThat(best).as("some allowed token leads towards completion").isNotNegative();
        return best;
    }

    /** Fewest bytes from {@code c} to a complete output (a bounded breadth-first search); MAX_VALUE if none found. */
    static int distance(ConfigSpace space, Config c) {
        if (c == space.dead) {
            return Integer.MAX_VALUE;
        }
        Integer known = DISTANCE.get(c);
        if (known != null) {
            return known;
        }
        Map<Config, Integer> depth = new HashMap<>();
        Deque<Config> todo = new ArrayDeque<>();
        depth.put(c, 0);
        todo.add(c);
        int found = Integer.MAX_VALUE;
        while (!todo.isEmpty() && depth.size() < 20_000) {
            Config x = todo.poll();
            int d = depth.get(x);
            if (x.accepting) {
                found = d;
                break;
            }
            for (int cls = 0; cls < space.pda().classes; cls++) {
                Config y = space.step(x, cls);
                if (y != space.dead && !depth.containsKey(y)) {
                    depth.put(y, d + 1);
                    todo.add(y);
                }
            }
        }
        if (found != Integer.MAX_VALUE) {
            DISTANCE.put(c, found);
        }
        return found;
    }
}
