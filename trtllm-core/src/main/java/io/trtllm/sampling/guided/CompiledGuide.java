package io.trtllm.sampling.guided;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.sampling.TokenBitmask;
import io.trtllm.sampling.TokenMask;
import io.trtllm.sampling.guided.ConfigSpace.Config;

/**
 * A guide compiled for one vocabulary: its automaton, run lazily as a DFA of configurations, and the
 * token masks of the configurations reached so far. Obtain one from {@link GuidedDecoding#compile},
 * share it among all sequences that use the same guide, and give each sequence its own
 * {@link #newMatcher() matcher}.
 *
 * <p>Thread-safe: immutable but for caches (configurations' successors, masks) that any thread may fill.
 * A mask is computed the first time any sequence reaches its configuration (a walk of the vocabulary's
 * token trie against the automaton) and kept in a cache shared by all guides and bounded by memory
 * ({@code -Dtrtllm.guided.maskCacheMiB}, default 256): later sequences only copy it.
 */
public final class CompiledGuide implements TokenMask.Source {
    /** Most configurations interned per guide; past that, new ones are still correct but not shared. */
    static final int MAX_CONFIGS = 100_000;
    /** Most parses alive at once (stacks of an ambiguous grammar). */
    static final int MAX_STACKS = 256;

    private static final Cache<MaskKey, TokenSet> MASKS = Caffeine.newBuilder()
            .maximumWeight(Long.getLong("trtllm.guided.maskCacheMiB", 256) << 20)
            .weigher((MaskKey k, TokenSet v) -> v.weight())
            .build();

    private record MaskKey(Config config, boolean first) {
    }

    private final GuidedDecodingParams params;
    private final GuideOptions options;
    private final GuideVocabulary vocabulary;
    private final ConfigSpace space;
    private final long compileNanos;

    CompiledGuide(GuidedDecodingParams params, GuideOptions options, GuideVocabulary vocabulary, Pda pda,
                  long compileNanos) {
        this.params = params;
        this.options = options;
        this.vocabulary = vocabulary;
        this.space = new ConfigSpace(pda, options.maxDepth(), MAX_STACKS, MAX_CONFIGS);
        this.compileNanos = compileNanos;
    }

    /** A matcher at the start of the output, for one sequence. */
    public GuideMatcher newMatcher() {
        return new GuideMatcher(this);
    }

    /** The sampler's mask for one sequence, over a new matcher ({@code SamplingConfig.guide}). */
    @Override
    public TokenMask newMask() {
        return new GuidedTokenMask(newMatcher(), false);
    }

    public GuidedDecodingParams params() {
        return params;
    }

    public GuideOptions options() {
        return options;
    }

    public GuideVocabulary vocabulary() {
        return vocabulary;
    }

    /** States of the compiled automata (all rules). */
    public int automatonStates() {
        return space.pda().stateCount();
    }

    /** How long compiling took (grammar to automata to tables; masks are computed later, as reached). */
    public long compileNanos() {
        return compileNanos;
    }

    /** Configurations reached and remembered so far (for tests and metrics). */
    int configurations() {
        return space.internedCount();
    }

    ConfigSpace space() {
        return space;
    }

    /** The tokens {@code config} allows (end tokens aside); {@code first}: the first token of the output. */
    TokenSet mask(Config config, boolean first) {
        MaskKey key = new MaskKey(config, first && vocabulary.firstTokenDropsLeadingSpace());
        TokenSet known = MASKS.getIfPresent(key);
        if (known != null) {
            return known;
        }
        // Computed outside the cache's lock: sequences reaching other configurations are not held up.
        TokenSet computed = computeMask(key.config(), key.first());
        TokenSet raced = MASKS.asMap().putIfAbsent(key, computed);
        return raced != null ? raced : computed;
    }

    /**
     * One preorder pass over the token trie, with the configuration after each prefix: a dead one skips
     * its subtree, a live one allows the tokens that end there.
     */
    private TokenSet computeMask(Config config, boolean first) {
        TokenTrie trie = vocabulary.trie(first);
        long[] allowed = new long[TokenBitmask.words(vocabulary.size())];
        if (!config.isFinal()) {
            Config[] byDepth = new Config[trie.maxDepth + 1];
            byDepth[0] = config;
            Config dead = space.dead;
            int nodes = trie.nodes();
            for (int n = 1; n < nodes; ) {
                int d = trie.depth[n];
                Config c = space.step(byDepth[d - 1], trie.label[n]);
                if (c == dead) {
                    n = trie.skip[n];
                    continue;
                }
                byDepth[d] = c;
                for (int k = trie.tokenStart[n]; k < trie.tokenStart[n + 1]; k++) {
                    int id = trie.tokenIds[k];
                    allowed[id >>> 6] |= 1L << id;
                }
                n++;
            }
        }
        return TokenSet.of(allowed, vocabulary.candidates(first));
    }

    @Override
    public String toString() {
        return "CompiledGuide[" + params.kind() + ", " + automatonStates() + " states, " + vocabulary + "]";
    }
}
