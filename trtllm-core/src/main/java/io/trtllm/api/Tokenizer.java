package io.trtllm.api;

import io.trtllm.api.config.ChatMessage;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Text to token ids and back, and conversations to prompts: what callers of an {@link LLM} need of
 * its tokenizer (TensorRT-LLM's {@code TokenizerBase}). {@link LLM#tokenizer()} is the model's;
 * {@link TransformersTokenizer#load} opens one from a directory with {@code tokenizer.json}.
 * Implementations must be safe to call from many threads at once.
 */
public interface Tokenizer {

    /** The ids of {@code text}; with {@code addSpecialTokens} the post-processor's tokens too (e.g. BOS). */
    int[] encode(String text, boolean addSpecialTokens);

    /** The text of {@code ids}; {@code skipSpecialTokens} leaves out special added tokens (e.g. EOS). */
    String decode(int[] ids, boolean skipSpecialTokens);

    /** Vocabulary size including added tokens. */
    int vocabSize();

    /** The id of a token string (e.g. {@code "<|im_end|>"}), or null if it is not in the vocabulary. */
    @Nullable Integer tokenToId(String token);

    /** Whether {@code id} is a special added token, the kind {@code skipSpecialTokens} leaves out. */
    boolean isSpecialToken(int id);

    /** End-of-sequence ids the tokenizer's configuration names, possibly none. */
    List<Integer> eosTokenIds();

    /** Whether the model has a chat template (else {@link #applyChatTemplate} joins the messages' texts). */
    boolean hasChatTemplate();

    /**
     * The chat template's Jinja source, or null without one: for callers that parse what the template
     * asks the model to write (e.g. its tool-call format).
     */
    @Nullable String chatTemplateSource();

    /** Where the chat template came from (its file), for log messages, or null without one. */
    @Nullable String chatTemplateOrigin();

    /**
     * Whether the chat template renders tool definitions (it reads a {@code tools} variable: pass
     * OpenAI-style function definitions, {@code {"type": "function", "function": {"name",
     * "description", "parameters"}}}, as {@code tools}). False without a template.
     */
    boolean supportsTools();

    /**
     * Renders {@code messages} with the model's chat template into the prompt text, as transformers'
     * {@code apply_chat_template(messages, tokenize=False, add_generation_prompt=...)} does: the text
     * holds the template's special tokens, so encode it without adding them (or use {@link #encodeChat}).
     * Without a template (a base model such as stories15M) the text is the messages' contents joined by
     * {@code "\n"}, the system messages first; roles are not written and {@code addGenerationPrompt}
     * changes nothing.
     *
     * @param variables further template variables, e.g. {@code enable_thinking=false} for Qwen3 or {@code tools}
     * @throws ChatTemplateException  when the template refuses the messages ({@link TemplateLimitException}
     *                                when rendering them goes past its limits)
     * @throws RuntimeException       of another kind when the template itself is broken (the model is at fault)
     */
    String applyChatTemplate(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> variables);

    /** {@link #applyChatTemplate(List, boolean, Map)} without further variables. */
    default String applyChatTemplate(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return applyChatTemplate(messages, addGenerationPrompt, Map.of());
    }

    /**
     * The prompt ids of a conversation: the chat template's text encoded without adding special tokens
     * (the template has its own), or the plain fallback's text encoded with them.
     */
    default int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
        return encode(applyChatTemplate(messages, addGenerationPrompt, variables), !hasChatTemplate());
    }

    /** {@link #encodeChat(List, boolean, Map)} without further variables. */
    default int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return encodeChat(messages, addGenerationPrompt, Map.of());
    }
}
