package io.trtllm.tokenizer;

import java.nio.file.Path;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A Hugging Face tokenizer ({@code tokenizer.json}, through DJL's binding of the Rust library) with
 * the chat template and special tokens of {@code tokenizer_config.json}.
 */
public final class Tokenizer implements AutoCloseable {
    // TODO(helper): implement

    /** Loads {@code tokenizer.json} (required) and {@code tokenizer_config.json} (optional) from {@code dir}. */
    public static Tokenizer load(Path dir) {
        throw new UnsupportedOperationException("TODO");
    }

    /** Token ids of {@code text}; {@code addSpecialTokens} applies the post-processor (e.g. BOS). */
    public int[] encode(String text, boolean addSpecialTokens) {
        throw new UnsupportedOperationException("TODO");
    }

    public String decode(int[] ids, boolean skipSpecialTokens) {
        throw new UnsupportedOperationException("TODO");
    }

    /** Vocabulary size including added tokens. */
    public int vocabSize() {
        throw new UnsupportedOperationException("TODO");
    }

    /** The id of a token string (e.g. {@code "<|im_end|>"}), or null if it is not in the vocabulary. */
    public @Nullable Integer tokenToId(String token) {
        throw new UnsupportedOperationException("TODO");
    }

    /** End-of-sequence ids known to the tokenizer config (eos_token), possibly empty. */
    public List<Integer> eosTokenIds() {
        throw new UnsupportedOperationException("TODO");
    }

    /** Whether tokenizer_config.json has a chat template. */
    public boolean hasChatTemplate() {
        throw new UnsupportedOperationException("TODO");
    }

    /**
     * Renders {@code messages} with the model's chat template (or the documented plain fallback when
     * the model has none) into the prompt text.
     */
    public String applyChatTemplate(List<ChatMessage> messages, boolean addGenerationPrompt) {
        throw new UnsupportedOperationException("TODO");
    }

    /** A fresh incremental detokenizer for one output stream. */
    public IncrementalDetokenizer newDetokenizer(boolean skipSpecialTokens) {
        throw new UnsupportedOperationException("TODO");
    }

    @Override
    public void close() {
        throw new UnsupportedOperationException("TODO");
    }
}
