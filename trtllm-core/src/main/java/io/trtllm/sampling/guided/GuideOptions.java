package io.trtllm.sampling.guided;

/**
 * Limits of a guide that are policy rather than language.
 *
 * @param maxWhitespace most whitespace characters (space, tab, CR, LF) in a row where JSON allows
 *                      whitespace (between tokens, before and after the value); 0 writes compact JSON.
 *                      Unbounded whitespace would let a model that likes newlines loop until max_tokens.
 * @param maxDepth      most nested rule calls alive at once: JSON containers nested in a value of any
 *                      JSON ({@code json_object}, {@code additionalProperties: true}), recursive
 *                      {@code $ref}s, recursive grammar rules. Deeper nesting is never generated, and no
 *                      matcher is left without a token by the limit: a rule is entered only where it can
 *                      be finished within it (a guide that cannot be is refused when compiled).
 */
public record GuideOptions(int maxWhitespace, int maxDepth) {
    /** 16 whitespace characters (a newline and a 4-space indent three levels deep), 64 levels. */
    public static final GuideOptions DEFAULT = new GuideOptions(16, 64);

    public GuideOptions {
        if (maxWhitespace < 0 || maxWhitespace > 256) {
            throw new IllegalArgumentException("maxWhitespace must be in 0..256, got " + maxWhitespace);
        }
        if (maxDepth < 1 || maxDepth > 1024) {
            throw new IllegalArgumentException("maxDepth must be in 1..1024, got " + maxDepth);
        }
    }
}
