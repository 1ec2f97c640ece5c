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
 * <p>Output is decoded in the context of its prompt, as vLLM's detokenizer does: the window starts
 * with the prompt's last {@value #CONTEXT_TOKENS} tokens, already "emitted", so the first output token
 * reads as it does after the prompt ({@code "▁was"} after {@code "The cat"} is {@code " was"}, not the
 * {@code "was"} a decode that starts with it gives; a character whose first bytes end the prompt is
 * completed by the output). The concatenation of the deltas, {@link #text()}, equals
 * {@link #decodeAfter decodeAfter(prompt, allIds)} — {@code decode(prompt + ids)} less
 * {@code decode(prompt)} — once {@link #flush()} has run; without a prompt, {@code decode(allIds)}.
 * Special tokens are dropped on arrival when {@code skipSpecialTokens} is set, exactly as
 * {@code decode} removes them before its decoder runs.
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

    /**
     * Prompt tokens the window starts with. vLLM takes 5; a character split into byte tokens has at
     * most 4, so 8 leaves at least one whole token before a character the prompt ends inside of, and
     * a decoder's start-of-text rule (SentencePiece dropping the first token's space) spends itself
     * on prompt text.
     */
    static final int CONTEXT_TOKENS = 8;

    private static final char REPLACEMENT = '\uFFFD';

    /**
     * How far a window reaches back for the start of a character: a UTF-8 character has at most 4
     * bytes and every token carries at least one, so its first byte is at most 3 tokens back.
     */
    private static final int REACH_BACK = 3;

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
        this(tokenizer, skipSpecialTokens, new int[0]);
    }

    /** @param prompt the prompt's ids (its last {@value #CONTEXT_TOKENS} become the decode context) */
    IncrementalDetokenizer(Tokenizer tokenizer, boolean skipSpecialTokens, int[] prompt) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
        int[] context = context(tokenizer, prompt, skipSpecialTokens);
        if (context.length > window.length) {
            window = Arrays.copyOf(window, context.length * 2);
        }
        System.arraycopy(context, 0, window, 0, context.length);
        length = context.length;
        prefixLength = context.length;
        prefixText = tokenizer.decode(window, 0, length, skipSpecialTokens);
    }

    /**
     * The text {@code ids} add after {@code prompt}: {@code decode(prompt + ids)} less
     * {@code decode(prompt)} (less what the two share, when the prompt ends inside a character that
     * {@code ids} complete), decoded over the prompt's last {@value #CONTEXT_TOKENS} tokens only. What
     * an {@code IncrementalDetokenizer} over {@code prompt} emits for {@code ids}, all at once.
     */
    public static String decodeAfter(Tokenizer tokenizer, int[] prompt, int[] ids, boolean skipSpecialTokens) {
        int[] context = context(tokenizer, prompt, skipSpecialTokens);
        int[] all = Arrays.copyOf(context, context.length + ids.length);
        System.arraycopy(ids, 0, all, context.length, ids.length);
        String before = tokenizer.decode(context, skipSpecialTokens);
        String full = tokenizer.decode(all, skipSpecialTokens);
        return full.substring(commonPrefix(before, full));
    }

    /**
     * The prompt's last {@value #CONTEXT_TOKENS} tokens (special ones left out when they are skipped, as
     * {@link #add} does), more when they start inside a character (see {@link #characterStart}).
     */
    private static int[] context(Tokenizer tokenizer, int[] prompt, boolean skipSpecialTokens) {
        int[] kept = prompt;
        if (skipSpecialTokens) {
            kept = Arrays.stream(prompt).filter(id -> !tokenizer.isSpecialToken(id)).toArray();
        }
        int start = Math.max(0, kept.length - CONTEXT_TOKENS);
        start = characterStart(tokenizer, kept, start, Math.max(0, start - REACH_BACK), kept.length, skipSpecialTokens);
        return Arrays.copyOfRange(kept, start, kept.length);
    }

    /**
     * Where a window over {@code ids[.., to)} should start, from {@code start} back to {@code limit}: at
     * the first byte of a character. A byte-fallback decoder (SentencePiece's, Llama 2's) turns a run
     * of byte tokens into text as one piece, so stray continuation bytes at the start garble the whole
     * characters that follow in the same run ({@code <0x9F><0xA6><0x99><0xF0><0x9F><0xA6><0x99>} is
     * seven U+FFFD, not three and 🦙). Starting inside a character always adds U+FFFDs, starting at a
     * character's first byte adds none: the start with the fewest wins, the latest of equals (a window
     * that ends inside a character keeps its trailing U+FFFD whatever the start).
     */
    private static int characterStart(Tokenizer tokenizer, int[] ids, int start, int limit, int to, boolean skip) {
        int best = start;
        int fewest = replacements(tokenizer.decode(ids, start, to, skip));
        for (int s = start - 1; s >= limit && fewest > 0; s--) {
            int n = replacements(tokenizer.decode(ids, s, to, skip));
            if (n < fewest) {
                best = s;
                fewest = n;
            }
        }
        return best;
    }

    private static int replacements(String text) {
        int n = 0;
        for (int i = text.indexOf(REPLACEMENT); i >= 0; i = text.indexOf(REPLACEMENT, i + 1)) {
            n++;
        }
        return n;
    }

    private static int commonPrefix(String a, String b) {
        int common = 0;
        int limit = Math.min(a.length(), b.length());
        while (common < limit && a.charAt(common) == b.charAt(common)) {
            common++;
        }
        return common;
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
            return emit(full, true);
        }
        if (length - prefixLength > MAX_PENDING_TOKENS) {
            log.debug("{} tokens decode to an incomplete UTF-8 sequence; emitting them as U+FFFD", length - prefixLength);
            return emit(full, false);
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
        return emit(tokenizer.decode(window, 0, length, skipSpecialTokens), false);
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
    private String emit(String full, boolean reachBack) {
        // Normally full extends prefixText. After a forced emission (invalid bytes), a later byte can
        // complete a character across the window edge and rewrite the prefix's tail: then only
        // what follows the common part is new.
        int common = commonPrefix(full, prefixText);
        String delta = full.length() > common ? full.substring(common) : "";
        // The window slides to the tokens just emitted, or further back when those start inside a character.
        int start = reachBack ? characterStart(tokenizer, window, prefixLength, Math.max(0, prefixLength - REACH_BACK),
                length, skipSpecialTokens) : prefixLength;
        String prefix = tokenizer.decode(window, start, length, skipSpecialTokens);
        System.arraycopy(window, start, window, 0, length - start);
        length -= start;
        prefixLength = length;
        prefixText = prefix;
        text.append(delta);
        return delta;
    }
}
