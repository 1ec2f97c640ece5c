package io.trtllm.tokenizer;

import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a stream of token ids into a stream of text deltas, never emitting a broken UTF-8 sequence
 * (a byte-fallback or byte-level token that ends mid-character is held back until it completes).
 *
 * <p>The method of vLLM's and Hugging Face's streaming detokenizers: decode a short window of the
 * latest tokens twice, without and with the tokens not yet emitted ("prefix" and "full"), and emit
 * what {@code full} adds to {@code prefix} once it does not end in U+FFFD. Decoding a window rather
 * than single tokens keeps what the decoder does with context right: SentencePiece strips the
 * leading space of the first token of a decode, so {@code "▁world"} alone is {@code "world"}, but
 * after {@code "▁Hello"} it is {@code " world"}, and both decodes of a window strip the same space.
 * After an emission the window slides to the tokens just emitted, so each step decodes a few
 * tokens: O(1) per token, however long the stream.
 *
 * <p>The concatenation of the deltas, {@link #text()}, equals {@code decode(allIds, skipSpecialTokens)}
 * once {@link #flush()} has run. Special tokens are dropped on arrival when {@code skipSpecialTokens}
 * is set, exactly as {@code decode} removes them before its decoder runs.
 *
 * <p>Not thread-safe: one instance per output stream.
 */
public final class IncrementalDetokenizer {
    private static final Logger log = LoggerFactory.getLogger(IncrementalDetokenizer.class);

    /**
     * Tokens held back before the text is emitted even though it ends in U+FFFD. A UTF-8 character
     * has at most 4 bytes and every token carries at least one, so only invalid byte sequences (a
     * model emitting stray byte tokens) get this far; the cap keeps such a stream O(1) per token.
     */
    static final int MAX_PENDING_TOKENS = 16;

    private static final char REPLACEMENT = '\uFFFD';

    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private final StringBuilder text = new StringBuilder();
    /** Window of ids: {@code [0, prefixLength)} were emitted (context), {@code [prefixLength, length)} are pending. */
    private int[] window = new int[16];
    private int length;
    private int prefixLength;
    /** {@code decode(window[0, prefixLength))}. */
    private String prefixText = "";

    IncrementalDetokenizer(Tokenizer tokenizer, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    /** Adds one token; returns the text it completes (possibly empty). */
    public String add(int tokenId) {
        if (tokenId < 0) {
            throw new IllegalArgumentException("token id " + tokenId + " is negative");
        }
        if (skipSpecialTokens && tokenizer.isSpecialToken(tokenId)) {
            return "";
        }
        if (length == window.length) {
            window = Arrays.copyOf(window, length * 2);
        }
        window[length++] = tokenId;
        String full = tokenizer.decode(window, 0, length, skipSpecialTokens);
        boolean complete = full.length() > prefixText.length() && full.charAt(full.length() - 1) != REPLACEMENT;
        if (complete) {
            return emit(full);
        }
        if (length - prefixLength > MAX_PENDING_TOKENS) {
            log.debug("{} tokens decode to an incomplete UTF-8 sequence; emitting them as U+FFFD", length - prefixLength);
            return emit(full);
        }
        return "";
    }

    /**
     * Ends the stream: returns the text held back, which can only be an incomplete UTF-8 sequence
     * at the very end, decoded as {@code decode} does (U+FFFD). Tokens may follow.
     */
    public String flush() {
        if (length == prefixLength) {
            return "";
        }
        return emit(tokenizer.decode(window, 0, length, skipSpecialTokens));
    }

    /** The text decoded so far. */
    public String text() {
        return text.toString();
    }

    /** Tokens in the decode window (for tests of the O(1) bound). */
    int windowLength() {
        return length;
    }

    /** Emits what {@code full} adds to the prefix; the pending tokens become the next prefix. */
    private String emit(String full) {
        // Normally full extends prefixText. After a forced emission (invalid bytes), a later byte can
        // complete a character across the window edge and rewrite the prefix's tail: then only
        // what follows the common part is new.
        int common = 0;
        int limit = Math.min(full.length(), prefixText.length());
        while (common < limit && full.charAt(common) == prefixText.charAt(common)) {
            common++;
        }
        String delta = full.length() > common ? full.substring(common) : "";
        int pending = length - prefixLength;
        System.arraycopy(window, prefixLength, window, 0, pending);
        length = pending;
        prefixLength = pending;
        prefixText = tokenizer.decode(window, 0, length, skipSpecialTokens);
        text.append(delta);
        return delta;
    }
}
