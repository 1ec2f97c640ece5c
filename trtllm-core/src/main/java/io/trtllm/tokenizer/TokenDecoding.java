package io.trtllm.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What a {@code tokenizer.json} decoder does to one model token, byte for byte, for the decoders of the
 * models we load: byte-level BPE (GPT-2, Llama 3, Qwen: each character of a token stands for one byte
 * through GPT-2's bytes-to-unicode table) and SentencePiece BPE (Llama 2, Mistral, stories15M: {@code ▁}
 * is a space, {@code <0xXX>} is the byte XX when the decoder has {@code ByteFallback}, and the decoded text
 * loses one leading space). Guided decoding needs these bytes to know what text a token writes.
 */
record TokenDecoding(Kind kind, String spaceMarker, boolean byteFallback, boolean stripsLeadingSpace,
                     @Nullable String unsupported) {
    enum Kind { BYTE_LEVEL, METASPACE, UNSUPPORTED }

    static final TokenDecoding UNKNOWN = new TokenDecoding(Kind.UNSUPPORTED, "", false, false, "no decoder");

    /** Byte of each character of a byte-level token: GPT-2's {@code bytes_to_unicode}, inverted. */
    private static final int[] BYTE_OF_CHAR = byteLevelTable();

    /** Reads the {@code decoder} object of tokenizer.json. */
    static TokenDecoding of(JsonNode decoder) {
        List<JsonNode> steps = new ArrayList<>();
        if ("Sequence".equals(decoder.path("type").asText())) {
            decoder.path("decoders").forEach(steps::add);
        } else {
            steps.add(decoder);
        }
        boolean byteLevel = false;
        boolean byteFallback = false;
        boolean strip = false;
        String marker = null;
        for (JsonNode step : steps) {
            String type = step.path("type").asText();
            switch (type) {
                case "ByteLevel" -> byteLevel = true;
                case "ByteFallback" -> byteFallback = true;
                case "Fuse" -> { }
                case "Replace" -> {
                    String pattern = step.path("pattern").path("String").asText(null);
                    if (pattern == null || !" ".equals(step.path("content").asText())) {
                        return unsupported("Replace " + step.path("pattern"));
                    }
                    marker = pattern;
                }
                case "Strip" -> {
                    if (!" ".equals(step.path("content").asText()) || step.path("stop").asInt(0) != 0
                            || step.path("start").asInt(0) > 1) {
                        return unsupported("Strip " + step);
                    }
                    strip = step.path("start").asInt(0) == 1;
                }
                case "Metaspace" -> {
                    marker = step.path("replacement").asText("\u2581");
                    // Metaspace drops the space it prepended unless told it prepended none.
                    String scheme = step.path("prepend_scheme").asText(null);
                    strip = scheme == null ? step.path("add_prefix_space").asBoolean(true) : !"never".equals(scheme);
                }
                default -> {
                    return unsupported(type);
                }
            }
        }
        if (byteLevel) {
            return marker == null && !byteFallback && !strip
                    ? new TokenDecoding(Kind.BYTE_LEVEL, "", false, false, null)
                    : unsupported("ByteLevel mixed with other decoders");
        }
        if (marker != null) {
            return new TokenDecoding(Kind.METASPACE, marker, byteFallback, strip, null);
        }
        return unsupported(decoder.path("type").asText());
    }

    private static TokenDecoding unsupported(String what) {
        return new TokenDecoding(Kind.UNSUPPORTED, "", false, false, what);
    }

    /** The bytes {@code token} (a model-vocabulary string) decodes to. */
    byte[] bytes(String token) {
        return switch (kind) {
            case BYTE_LEVEL -> byteLevelBytes(token);
            case METASPACE -> metaspaceBytes(token);
            case UNSUPPORTED -> throw new UnsupportedOperationException(
                    "the tokenizer's decoder (" + unsupported + ") is not one whose token bytes are known");
        };
    }

    private static byte[] byteLevelBytes(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            int b = c < BYTE_OF_CHAR.length ? BYTE_OF_CHAR[c] : -1;
            if (b < 0) {
                // As Hugging Face's ByteLevel decoder: a token with a character outside the table is its UTF-8.
                return token.getBytes(StandardCharsets.UTF_8);
            }
            out[i] = (byte) b;
        }
        return out;
    }

    private byte[] metaspaceBytes(String token) {
        if (byteFallback && token.length() == 6 && token.startsWith("<0x") && token.endsWith(">")) {
            int hi = Character.digit(token.charAt(3), 16);
            int lo = Character.digit(token.charAt(4), 16);
            if (hi >= 0 && lo >= 0) {
                return new byte[] {(byte) (hi << 4 | lo)};
            }
        }
        return token.replace(spaceMarker, " ").getBytes(StandardCharsets.UTF_8);
    }

    /**
     * GPT-2's {@code bytes_to_unicode}: printable Latin-1 bytes stand for themselves, the other 68 bytes
     * for U+0100 and up, in byte order. Inverted: char → byte, -1 for chars that stand for no byte.
     */
    private static int[] byteLevelTable() {
        int[] byteOf = new int[0x100 + 68];
        java.util.Arrays.fill(byteOf, -1);
        int next = 0x100;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            byteOf[printable ? b : next++] = b;
        }
        return byteOf;
    }
}
