package io.trtllm.api.chat;

import org.jspecify.annotations.Nullable;

/** How a model writes tool calls in its reply. */
public enum ToolCallFormat {
    /**
     * Hermes, Qwen 2.5 / Qwen3 (and models trained on their templates): blocks
     * {@code <tool_call>{"name": "f", "arguments": {...}}</tool_call>}, several in a row, text around them.
     */
    HERMES,
    /**
     * Llama 3.1 / 3.2 with JSON tool calling: the reply is {@code {"name": "f", "parameters": {...}}}
     * (or {@code "arguments"}), possibly after {@code <|python_tag|>}, several joined by {@code ;}. A reply
     * that does not start with one is content.
     */
    LLAMA3_JSON,
    /**
     * Mistral (v3 tokenizer templates): content, then {@code [TOOL_CALLS]} and a JSON array
     * {@code [{"name": "f", "arguments": {...}}, ...]}. Ids are 9 letters and digits, as Mistral's
     * template requires.
     */
    MISTRAL;

    /**
     * The format a chat template asks the model for: Hermes/Qwen {@code <tool_call>}, Mistral
     * {@code [TOOL_CALLS]}, Llama 3.1/3.2 JSON ({@code <|python_tag|>} or the {@code ipython} role); null for none
     * of these.
     */
    public static @Nullable ToolCallFormat ofTemplate(String template) {
        if (template.contains("<tool_call>")) {
            return HERMES;
        }
        if (template.contains("[TOOL_CALLS]")) {
            return MISTRAL;
        }
        if (template.contains("<|python_tag|>") || template.contains("ipython")) {
            return LLAMA3_JSON;
        }
        return null;
    }
}
