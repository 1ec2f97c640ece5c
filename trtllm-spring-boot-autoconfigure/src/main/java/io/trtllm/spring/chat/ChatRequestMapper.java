package io.trtllm.spring.chat;

import io.trtllm.api.SamplingParams;
import io.trtllm.tokenizer.ChatMessage;
import io.trtllm.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.Message;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.tool.ToolCallback;

/**
 * Turns a Spring AI {@link Prompt} into what the engine runs: the options merged over the chat
 * model's defaults, the prompt token ids (the messages rendered with the model's chat template),
 * and the {@link SamplingParams}. Shared by {@code call} and {@code stream}.
 */
final class ChatRequestMapper {

    /**
     * One engine request.
     *
     * @param prompt         the prompt with the merged options (what observations report)
     * @param options        the merged options
     * @param promptTokenIds the rendered conversation's token ids
     * @param params         sampling parameters for the engine
     */
    record EngineRequest(Prompt prompt, TrtLlmChatOptions options, int[] promptTokenIds, SamplingParams params) {
    }

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
     *                                       responses, or media
     * @throws IllegalArgumentException      when an option is out of range (the message names it)
     */
    EngineRequest map(Prompt prompt) {
        TrtLlmChatOptions options = defaults.merge(prompt.getOptions());
        refuseTools(options.getToolCallbacks());
        List<ChatMessage> messages = messages(prompt.getInstructions());
        int[] ids = tokenizer.encodeChat(messages, true);
        SamplingParams params = samplingParams(options, ids.length);
        return new EngineRequest(prompt.mutate().chatOptions(options).build(), options, ids, params);
    }

    /**
     * The options as sampling parameters. Unset options keep {@link SamplingParams}' defaults, except
     * max tokens: unset, a reply may use what the sequence length leaves after the prompt.
     */
    SamplingParams samplingParams(TrtLlmChatOptions options, int promptTokens) {
        SamplingParams.Builder b = SamplingParams.builder();
        // Too long a prompt leaves no room: 1 lets the engine reject it with the numbers.
        b.maxTokens(options.getMaxTokens() != null ? options.getMaxTokens() : Math.max(1, maxSeqLen - promptTokens));
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
        return b.build();
    }

    private static List<ChatMessage> messages(List<Message> instructions) {
        List<ChatMessage> out = new ArrayList<>(instructions.size());
        for (Message m : instructions) {
            String role = switch (m.getMessageType()) {
                case SYSTEM -> "system";
                case USER -> "user";
                case ASSISTANT -> "assistant";
                case TOOL -> throw new UnsupportedOperationException(
                        "TrtLlmChatModel does not support tool calling yet: the prompt has a tool response message");
            };
            if (m instanceof UserMessage user && !user.getMedia().isEmpty()) {
                throw new UnsupportedOperationException("TrtLlmChatModel takes text only: a user message has "
                        + user.getMedia().size() + " media attachment(s)");
            }
            if (m instanceof AssistantMessage assistant && assistant.hasToolCalls()) {
                throw new UnsupportedOperationException(
                        "TrtLlmChatModel does not support tool calling yet: an assistant message has tool calls");
            }
            out.add(new ChatMessage(role, textOf(m)));
        }
        return out;
    }

    private static String textOf(Message m) {
        @Nullable String text = m.getText();
        return text == null ? "" : text;
    }

    private static void refuseTools(List<ToolCallback> tools) {
        if (!tools.isEmpty()) {
            List<String> names = tools.stream().map(t -> t.getToolDefinition().name()).toList();
            throw new UnsupportedOperationException("TrtLlmChatModel does not support tool calling yet; the request has "
                    + "tool callbacks " + names + ": remove them, or use a chat model with tool support");
        }
    }
}
