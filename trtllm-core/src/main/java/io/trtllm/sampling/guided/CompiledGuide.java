package io.trtllm.sampling.guided;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import org.jspecify.annotations.Nullable;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.sampling.Bitmask;
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
 * ({@code -Dtrtllm.guided.maskCacheMiB}, default 256): later sequences share it. A mask is a {@link Bitmask}
 * over the whole vocabulary, end tokens included where the configuration accepts, interned by content
 * ({@code -Dtrtllm.guided.maskInternMiB}, default 64): configurations that allow the same tokens (every position
 * inside a string, or of a counted repetition) share one instance, which a device runner recognizes and does not
 * upload again.
 */
public final class CompiledGuide implements TokenMask.Source {
    /** Most configurations interned per guide; past that, new ones are still correct but not shared. */
    static final int MAX_CONFIGS = 100_000;
    /** Most parses alive at once (stacks of an ambiguous grammar). */
    static final int MAX_STACKS = 256;

    private static final Cache<MaskKey, Bitmask> MASKS = Caffeine.newBuilder()
            .maximumWeight(mebibytes("trtllm.guided.maskCacheMiB", System.getProperty("trtllm.guided.maskCacheMiB"), 256))
            .weigher((MaskKey k, Bitmask v) -> 64 + v.words() * Long.BYTES)
            .build();
    /** Masks by content, so that equal ones are one instance (bounded; past it, equal masks may be two). */
    private static final Cache<Bitmask, Bitmask> INTERNED = Caffeine.newBuilder()
            .maximumWeight(mebibytes("trtllm.guided.maskInternMiB", System.getProperty("trtllm.guided.maskInternMiB"), 64))
            .weigher((Bitmask k, Bitmask v) -> 64 + v.words() * Long.BYTES)
            .build();

    private record MaskKey(Config config, boolean first) {
    }

    /** Largest cache bound a property may set, in MiB (8 TiB; its bytes still fit a long). */
    static final long MAX_CACHE_MIB = 1L << 23;

    /**
     * Bytes of a cache bound given in MiB by system property {@code key} ({@code value}, null when unset: the
     * default). A value that is not a whole number from 0 to {@link #MAX_CACHE_MIB} is refused naming the property,
     * rather than read as the default or shifted past a long.
     */
    static long mebibytes(String key, @Nullable String value, long defaultMiB) {
        if (value == null) {
            return defaultMiB << 20;
        }
        long mib;
        try {
            mib = Long.parseLong(value.strip());
        } catch (NumberFormatException e) {
            mib = -1;
        }
        if (mib < 0 || mib > MAX_CACHE_MIB) {
            throw new IllegalArgumentException("-D" + key + " must be a whole number of MiB from 0 to " + MAX_CACHE_MIB
                    + ", got '" + value + "'");
        }
        return mib << 20;
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

    /**
     * The tokens {@code config} allows, end tokens included where it accepts ({@code first}: the first token of the
     * output): one shared instance per configuration while cached, and per content while interned.
     */
    Bitmask mask(Config config, boolean first) {
        MaskKey key = new MaskKey(config, first && vocabulary.firstTokenDropsLeadingSpace());
        Bitmask known = MASKS.getIfPresent(key);
        if (known != null) {
            return known;
        }
        // Computed outside the cache's lock: sequences reaching other configurations are not held up.
        Bitmask computed = intern(computeMask(key.config(), key.first()));
        Bitmask raced = MASKS.asMap().putIfAbsent(key, computed);
        return raced != null ? raced : computed;
    }

    /** The instance of {@code mask}'s content that other configurations already share, or {@code mask}. */
    static Bitmask intern(Bitmask mask) {
        Bitmask known = INTERNED.asMap().putIfAbsent(mask, mask);
        return known != null ? known : mask;
    }

    /**
     * One preorder pass over the token trie, with the configuration after each prefix: a dead one skips
     * its subtree, a live one allows the tokens that end there; then the end tokens where it accepts.
     */
    private Bitmask computeMask(Config config, boolean first) {
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
        // End tokens where the output may end, and only there (as GuideMatcher.accept takes them).
        for (int id : vocabulary.ends()) {
            if (config.accepting) {
                allowed[id >>> 6] |= 1L << id;
            } else {
                allowed[id >>> 6] &= ~(1L << id);
            }
        }
        return Bitmask.owning(allowed);
    }

    @Override
    public String toString() {
        return "CompiledGuide[" + params.kind() + ", " + automatonStates() + " states, " + vocabulary + "]";
    }
}
