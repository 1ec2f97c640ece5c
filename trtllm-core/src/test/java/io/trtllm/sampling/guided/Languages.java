package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingParams;
import java.nio.charset.StandardCharsets;

/** Membership tests of a guide's language, through a matcher over the one-token-per-byte vocabulary. */
final class Languages {
    private Languages() {
    }

    static CompiledGuide compile(GuidedDecodingParams params) {
        return GuidedDecoding.compile(params, Vocabularies.bytes());
    }

    /** Whether the guide accepts {@code text} as a complete output. */
    static boolean matches(CompiledGuide guide, String text) {
        GuideMatcher m = guide.newMatcher();
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            if (!m.accept(b & 0xFF)) {
                return false;
            }
        }
        return m.canTerminate();
    }

    /** Whether {@code text} is a prefix of some output the guide accepts. */
    static boolean isViablePrefix(CompiledGuide guide, String text) {
        return guide.newMatcher().canFollow(text.getBytes(StandardCharsets.UTF_8));
    }
}
