package io.trtllm.sampling.guided;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.trtllm.api.config.GuidedDecodingException;
import io.trtllm.api.config.GuidedDecodingParams;
import java.util.Objects;

/**
 * Compiles guides, with a cache: {@code GuidedDecoding.compile(params, vocabulary)} returns the same
 * {@link CompiledGuide} for the same kind, text, options and vocabulary content (by
 * {@link GuideVocabulary#fingerprint()}) as long as it stays in the cache (bounded by the guides'
 * automaton states, 1M in all). Failures are not cached.
 *
 * <pre>{@code
 * CompiledGuide guide = GuidedDecoding.compile(GuidedDecodingParams.json(schema), vocabulary);
 * GuideMatcher matcher = guide.newMatcher();   // one per sequence
 * }</pre>
 *
 * <p>Thread-safe.
 */
public final class GuidedDecoding {
    private record Key(GuidedDecodingParams params, GuideOptions options, String vocabulary) {
    }

    private static final Cache<Key, CompiledGuide> GUIDES = Caffeine.newBuilder()
            .maximumWeight(1_000_000)
            .weigher((Key k, CompiledGuide g) -> Math.max(1, g.automatonStates()))
            .build();

    private GuidedDecoding() {
    }

    /** The compiled guide of {@code params} over {@code vocabulary}, with {@link GuideOptions#DEFAULT}. */
    public static CompiledGuide compile(GuidedDecodingParams params, GuideVocabulary vocabulary) {
        return compile(params, vocabulary, GuideOptions.DEFAULT);
    }

    /**
     * The compiled guide of {@code params} over {@code vocabulary}: from the cache, or compiled now.
     *
     * @throws GuidedDecodingException when the guide is invalid, unsupported, matches nothing or is too large
     */
    public static CompiledGuide compile(GuidedDecodingParams params, GuideVocabulary vocabulary, GuideOptions options) {
        Objects.requireNonNull(params, "params");
        Objects.requireNonNull(vocabulary, "vocabulary");
        Objects.requireNonNull(options, "options");
        Key key = new Key(params, options, vocabulary.fingerprint());
        CompiledGuide known = GUIDES.getIfPresent(key);
        if (known != null) {
            return known;
        }
        // Compiled outside the cache's lock (a large guide takes a while); a race compiles twice, one wins.
        CompiledGuide compiled = compileUncached(params, vocabulary, options);
        CompiledGuide raced = GUIDES.asMap().putIfAbsent(key, compiled);
        return raced != null ? raced : compiled;
    }

    /** Compiles without the cache (benchmarks of cold compilation; tests). */
    public static CompiledGuide compileUncached(GuidedDecodingParams params, GuideVocabulary vocabulary,
                                                GuideOptions options) {
        long start = System.nanoTime();
        Grammar grammar = grammarOf(params, options);
        Pda pda = GrammarCompiler.compile(grammar);
        return new CompiledGuide(params, options, vocabulary, pda, System.nanoTime() - start);
    }

    /** The grammar a guide's text translates to, before compilation. */
    static Grammar grammarOf(GuidedDecodingParams params, GuideOptions options) {
        return switch (params.kind()) {
            case JSON_OBJECT -> JsonSchemaCompiler.jsonObject(options);
            case JSON -> JsonSchemaCompiler.compile(params.text(), options);
            case REGEX -> Grammar.of(RegexParser.parse(params.text(), RegexParser.Mode.FULL_MATCH));
            case CHOICE -> Grammar.of(Expr.alt(params.choices().stream().map(Expr::literal).toList()));
            case GRAMMAR -> GbnfParser.parse(params.text());
            case STRUCTURAL_TAG -> StructuralTagCompiler.compile(params.text(), options);
        };
    }
}
