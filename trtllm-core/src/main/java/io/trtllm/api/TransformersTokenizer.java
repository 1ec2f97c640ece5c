package io.trtllm.api;

import io.trtllm.api.config.ChatMessage;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A Hugging Face tokenizer ({@code tokenizer.json}, and {@code tokenizer_config.json}'s special tokens
 * and chat template) as the API's {@link Tokenizer}, named as TensorRT-LLM's {@code TransformersTokenizer}.
 * It fronts {@code io.trtllm.tokenizer.Tokenizer} and turns its template refusals into the API's
 * {@link ChatTemplateException} / {@link TemplateLimitException}, so that callers need nothing below
 * {@code io.trtllm.api}.
 */
public final class TransformersTokenizer implements Tokenizer, AutoCloseable {
    private final io.trtllm.tokenizer.Tokenizer delegate;
    private final boolean owner;

    /** @param owner whether {@link #close()} frees {@code delegate} (an {@link LLM}'s tokenizer is the LLM's to close) */
    TransformersTokenizer(io.trtllm.tokenizer.Tokenizer delegate, boolean owner) {
        this.delegate = delegate;
        this.owner = owner;
    }

    /**
     * Loads the tokenizer of {@code dir} (a model directory or any directory with {@code tokenizer.json});
     * close it to free its native memory.
     *
     * @throws io.trtllm.model.ModelFormatException (a {@link RuntimeException}) when a file is missing or malformed, naming it
     */
    public static TransformersTokenizer load(Path dir) {
        return new TransformersTokenizer(io.trtllm.tokenizer.Tokenizer.load(dir), true);
    }

    /** The tokenizer underneath, for the engine's own use (detokenizers, stop strings). */
    io.trtllm.tokenizer.Tokenizer delegate() {
        return delegate;
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        return delegate.encode(text, addSpecialTokens);
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        return delegate.decode(ids, skipSpecialTokens);
    }

    @Override
    public int vocabSize() {
        return delegate.vocabSize();
    }

    @Override
    public @Nullable Integer tokenToId(String token) {
        return delegate.tokenToId(token);
    }

    @Override
    public boolean isSpecialToken(int id) {
        return delegate.isSpecialToken(id);
    }

    @Override
    public List<Integer> eosTokenIds() {
        return delegate.eosTokenIds();
    }

    @Override
    public boolean hasChatTemplate() {
        return delegate.hasChatTemplate();
    }

    @Override
    public @Nullable String chatTemplateSource() {
        var template = delegate.chatTemplate();
        return template != null ? template.source() : null;
    }

    @Override
    public @Nullable String chatTemplateOrigin() {
        var template = delegate.chatTemplate();
        return template != null ? template.origin() : null;
    }

    @Override
    public boolean supportsTools() {
        return delegate.supportsTools();
    }

    @Override
    public String applyChatTemplate(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
        try {
            return delegate.applyChatTemplate(messages, addGenerationPrompt, variables);
        } catch (io.trtllm.tokenizer.ChatTemplateException e) {
            throw refusal(e);
        }
    }

    @Override
    public int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
        try {
            return delegate.encodeChat(messages, addGenerationPrompt, variables);
        } catch (io.trtllm.tokenizer.ChatTemplateException e) {
            throw refusal(e);
        }
    }

    /** The API's exception for the template engine's, with the same message, origin and reason. */
    private static ChatTemplateException refusal(io.trtllm.tokenizer.ChatTemplateException e) {
        return e instanceof io.trtllm.tokenizer.TemplateLimitException
                ? new TemplateLimitException(e.origin(), e.reason(), e)
                : new ChatTemplateException(e.origin(), e.reason(), e);
    }

    /** Frees the native tokenizer, unless it belongs to an {@link LLM} (which frees it on its close). */
    @Override
    public void close() {
        if (owner) {
            delegate.close();
        }
    }

    @Override
    public String toString() {
        return delegate.toString();
    }
}
