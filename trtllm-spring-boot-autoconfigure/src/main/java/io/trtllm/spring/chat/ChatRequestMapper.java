package io.trtllm.spring.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.Tokenizer;
import io.trtllm.api.chat.ReasoningParser;
import io.trtllm.api.chat.ReplyParser;
import io.trtllm.api.chat.ToolCallFormat;
import io.trtllm.api.config.ChatMessage;
import io.trtllm.api.config.GuidedDecodingParams;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.Message;
import org.springframework.ai.chat.messages.ToolResponseMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.tool.ToolCallback;
import org.springframework.ai.tool.definition.ToolDefinition;

/**
 * Turns a Spring AI {@link Prompt} into what the engine runs: the options merged over the chat
 * model's defaults, the prompt token ids (the messages rendered with the model's chat template),
 * and the {@link SamplingParams}. Shared by {@code call} and {@code stream}.
 *
 * <p>Tools: the options' tool callbacks go to the template as {@code tools} (OpenAI function
 * definitions); assistant tool calls and {@link ToolResponseMessage}s become the template's
 * {@code tool_calls} and {@code tool} messages. Both need a template that reads {@code tools} and
 * tells the model to answer in a format {@link #toolCallFormat} knows; otherwise the request is refused with an {@link UnsupportedOperationException} naming the model.
 */
final class ChatRequestMapper {

    /**
     * One engine request.
     *
     * @param prompt         the prompt with the merged options (what observations report)
     * @param options        the merged options
     * @param promptTokenIds the rendered conversation's token ids
     * @param params         sampling parameters for the engine
     * @param tools          whether tool definitions were rendered: the reply may hold tool calls
     * @param replies        reads the whole reply (tool calls in the template's format, a reasoning block),
     *                       or null when the reply is plain text
     */
    record EngineRequest(Prompt prompt, TrtLlmChatOptions options, int[] promptTokenIds, SamplingParams params,
                         boolean tools, @Nullable ReplyParser replies) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Tokenizer tokenizer;
    private final int maxSeqLen;
    private final TrtLlmChatOptions defaults;

    ChatRequestMapper(Tokenizer tokenizer, int maxSeqLen, TrtLlmChatOptions defaults) {
        this.tokenizer = tokenizer;
        this.maxSeqLen = maxSeqLen;
        this.defaults = defaults;
    }

    /**
     * @throws UnsupportedOperationException when the request has tool callbacks, tool calls or tool
     *                                       responses and the model's chat template has no tool support,
     *                                       or media
     * @throws IllegalArgumentException      when an option is out of range (the message names it), or the
     *                                       options name a model other than the one this engine serves
     */
    EngineRequest map(Prompt prompt) {
        TrtLlmChatOptions options = defaults.merge(prompt.getOptions());
        checkModel(options.getModel());
        if (!Objects.equals(options.getModel(), defaults.getModel())) {
            options = options.mutate().model(defaults.getModel()).build(); // "" named none: report the served one
        }
        List<ToolCallback> callbacks = options.getToolCallbacks();
        if (!callbacks.isEmpty()) {
            requireToolSupport(options, "tool callbacks " + callbacks.stream().map(t -> t.getToolDefinition().name()).toList());
        }
        List<ChatMessage> messages = messages(prompt.getInstructions(), options);
        Map<String, Object> variables = callbacks.isEmpty() ? Map.of() : Map.of("tools", toolDefinitions(callbacks));
        int[] ids = tokenizer.encodeChat(messages, true, variables);
        SamplingParams params = samplingParams(options, ids.length);
        return new EngineRequest(prompt.mutate().chatOptions(options).build(), options, ids, params, !callbacks.isEmpty(),
                replyParser(!callbacks.isEmpty()));
    }

    /**
     * How replies of this model are read: tool calls in the format its chat template asks for (when tools were
     * rendered), reasoning when the template has Qwen3's {@code <think>} block; null when neither applies.
     */
    @Nullable ReplyParser replyParser(boolean tools) {
        @Nullable String template = tokenizer.chatTemplateSource();
        if (template == null) {
            return null;
        }
        @Nullable ToolCallFormat format = tools ? toolCallFormat(template) : null;
        @Nullable ReasoningParser reasoning = template.contains("<think>") ? ReasoningParser.qwen3() : null;
        if (format == null && reasoning == null) {
            return null;
        }
        return ReplyParser.of(reasoning, format == null ? null : io.trtllm.api.chat.ToolCallParser.of(format));
    }

    /**
     * The tool-call format a chat template asks the model for: Hermes/Qwen {@code <tool_call>}, Mistral
     * {@code [TOOL_CALLS]}, Llama 3.1/3.2 JSON ({@code <|python_tag|>} or the {@code ipython} role); null for none
     * of these.
     */
    static @Nullable ToolCallFormat toolCallFormat(String template) {
        return ToolCallFormat.ofTemplate(template);
    }

    /**
     * One engine serves one model: a request that names another would silently run this one (and be
     * observed and billed under the other's name), so it is refused. Unset or empty means this one.
     */
    private void checkModel(@Nullable String asked) {
        String served = defaults.getModel();
        if (asked != null && !asked.isEmpty() && !asked.equals(served)) {
            throw new IllegalArgumentException("The request asks for model '" + asked + "', but this chat model "
                    + "serves '" + served + "': leave the model option unset or set it to '" + served + "'.");
        }
    }

    /** The callbacks' definitions as OpenAI function definitions, the form chat templates are written for. */
    static List<Map<String, Object>> toolDefinitions(List<ToolCallback> callbacks) {
        List<Map<String, Object>> tools = new ArrayList<>(callbacks.size());
        for (ToolCallback callback : callbacks) {
            ToolDefinition definition = callback.getToolDefinition();
            Map<String, Object> function = new LinkedHashMap<>();
            function.put("name", definition.name());
            function.put("description", definition.description());
            function.put("parameters", parseSchema(definition));
            Map<String, Object> tool = new LinkedHashMap<>();
            tool.put("type", "function");
            tool.put("function", function);
            tools.add(tool);
        }
        return tools;
    }

    private static Object parseSchema(ToolDefinition definition) {
        try {
            return JSON.readValue(definition.inputSchema(), Object.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("tool '" + definition.name() + "': the input schema is not JSON: "
                    + e.getOriginalMessage(), e);
        }
    }

    /**
     * Refuses {@code what} unless the template renders tools and asks for Qwen's {@code <tool_call>}
     * format, the one replies are parsed in.
     */
    private void requireToolSupport(TrtLlmChatOptions options, String what) {
        String model = String.valueOf(options.getModel());
        if (!tokenizer.supportsTools()) {
            throw new UnsupportedOperationException("The request has " + what + ", but model '" + model + "' "
                    + (tokenizer.hasChatTemplate() ? "has a chat template without tools support"
                    : "has no chat template, so no tools support")
                    + ": use a model whose chat template renders tools (e.g. Qwen 2.5/3), or remove the tools");
        }
        String template = Objects.requireNonNull(tokenizer.chatTemplateSource());
        if (toolCallFormat(template) == null) {
            throw new UnsupportedOperationException("The request has " + what + ", but the chat template of model '"
                    + model + "' (" + tokenizer.chatTemplateOrigin() + ") does not ask for tool calls in a format "
                    + "TrtLlmChatModel parses: " + ToolCallParser.OPEN + " JSON (Qwen 2.5/3, Hermes), [TOOL_CALLS] "
                    + "(Mistral) or Llama 3.1/3.2 JSON (<|python_tag|>)");
        }
    }

    /**
     * The options as sampling parameters. Unset options keep {@link SamplingParams}' defaults, except
     * max tokens: unset, a reply may use what the sequence length leaves after the prompt.
     */
    SamplingParams samplingParams(TrtLlmChatOptions options, int promptTokens) {
        Integer asked = options.getMaxTokens();
        // Before the engine sees it: a max tokens beyond the whole sequence length can never be served, and
        // refusing it here keeps every later sum (prompt + max tokens) far from int overflow. A sum beyond
        // the length is the engine's to refuse; it knows the prompt it is given.
        if (asked != null && asked > maxSeqLen) {
            throw new IllegalArgumentException("max tokens (" + asked + ") exceeds the model's maximum sequence length "
                    + maxSeqLen + " (prompt and reply together): ask for at most " + Math.max(1, maxSeqLen - promptTokens)
                    + " tokens");
        }
        // Too long a prompt leaves no room: 1 lets the engine reject it with the numbers.
        return sampling(options)
                .maxTokens(options.getMaxTokens() != null ? options.getMaxTokens() : Math.max(1, maxSeqLen - promptTokens))
                .build();
    }

    /** A builder with the set options (all but max tokens, which needs the prompt); unset ones keep SamplingParams' defaults. */
    static SamplingParams.Builder sampling(TrtLlmChatOptions options) {
        SamplingParams.Builder b = SamplingParams.builder();
        if (options.getTemperature() != null) {
            b.temperature(options.getTemperature().floatValue());
        }
        if (options.getTopK() != null) {
            b.topK(options.getTopK());
        }
        if (options.getTopP() != null) {
            b.topP(options.getTopP().floatValue());
        }
        if (options.getPresencePenalty() != null) {
            b.presencePenalty(options.getPresencePenalty().floatValue());
        }
        if (options.getFrequencyPenalty() != null) {
            b.frequencyPenalty(options.getFrequencyPenalty().floatValue());
        }
        if (options.getRepetitionPenalty() != null) {
            b.repetitionPenalty(options.getRepetitionPenalty().floatValue());
        }
        if (options.getStopSequences() != null) {
            // Merging appends stop sequences, so defaults can arrive twice (ChatClient merges too).
            b.stop(List.copyOf(new LinkedHashSet<>(options.getStopSequences())));
        }
        b.seed(options.getSeed());
        if (options.getOutputSchema() != null) {
            // Structured output is enforced, not asked for: the reply is a JSON value valid against the schema.
            // Compact: the reply is parsed, not read, and whitespace would only spend tokens.
            b.guidedDecoding(GuidedDecodingParams.json(options.getOutputSchema()).withCompactWhitespace(true));
        }
        return b;
    }

    private List<ChatMessage> messages(List<Message> instructions, TrtLlmChatOptions options) {
        List<ChatMessage> out = new ArrayList<>(instructions.size());
        for (Message m : instructions) {
            if (m instanceof UserMessage user && !user.getMedia().isEmpty()) {
                throw new UnsupportedOperationException("TrtLlmChatModel takes text only: a user message has "
                        + user.getMedia().size() + " media attachment(s)");
            }
            switch (m.getMessageType()) {
                case SYSTEM -> out.add(ChatMessage.system(textOf(m)));
                case USER -> out.add(ChatMessage.user(textOf(m)));
                case ASSISTANT -> {
                    if (m instanceof AssistantMessage assistant && assistant.hasToolCalls()) {
                        requireToolSupport(options, "an assistant message with tool calls");
                        List<ChatMessage.ToolCall> calls = assistant.getToolCalls().stream()
                                .map(c -> new ChatMessage.ToolCall(c.id(), c.name(), c.arguments())).toList();
                        out.add(ChatMessage.assistant(textOf(m), calls));
                    } else {
                        out.add(ChatMessage.assistant(textOf(m)));
                    }
                }
                case TOOL -> {
                    requireToolSupport(options, "a tool response message");
                    // One template message per result, as OpenAI's API has them.
                    for (ToolResponseMessage.ToolResponse r : ((ToolResponseMessage) m).getResponses()) {
                        out.add(ChatMessage.tool(r.responseData(), r.id(), r.name()));
                    }
                }
            }
        }
        return out;
    }

    private static String textOf(Message m) {
        @Nullable String text = m.getText();
        return text == null ? "" : text;
    }
}
