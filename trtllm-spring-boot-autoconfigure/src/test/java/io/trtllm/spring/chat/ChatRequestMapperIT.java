package io.trtllm.spring.chat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.LLM;
import io.trtllm.api.SamplingParams;
import io.trtllm.spring.testing.SharedLlm;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.SystemMessage;
import org.springframework.ai.chat.messages.ToolResponseMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;

/** The request mapper shared by call and stream: messages to prompt ids, options to sampling parameters. */
class ChatRequestMapperIT {
    static LLM llm;
    static ChatRequestMapper mapper;

    @BeforeAll
    static void load() {
        llm = SharedLlm.get();
        mapper = new ChatRequestMapper(llm.tokenizer(), llm.maxSeqLen(),
                TrtLlmChatOptions.builder().model("m").temperature(0.3).topK(40).stopSequences(List.of("The end")).build());
    }

    @Test
    void messagesAreRenderedWithTheTokenizersChatTemplateOrFallback() {
        var prompt = new Prompt(List.of(new SystemMessage("Be brief."), new UserMessage("Hi"),
                new AssistantMessage("Hello"), new UserMessage("Tell a story")));

        var request = mapper.map(prompt);

        assertThat(request.promptTokenIds()).containsExactly(llm.tokenizer().encodeChat(List.of(
                io.trtllm.api.config.ChatMessage.system("Be brief."), io.trtllm.api.config.ChatMessage.user("Hi"),
                io.trtllm.api.config.ChatMessage.assistant("Hello"), io.trtllm.api.config.ChatMessage.user("Tell a story")),
                true));
        assertThat(request.promptTokenIds()).containsExactly(
                llm.tokenizer().encode("Be brief.\nHi\nHello\nTell a story", true));
    }

    @Test
    void optionsBecomeSamplingParamsWithDefaultsUnderTheRequest() {
        var request = mapper.map(new Prompt("Hi", ChatOptions.builder().temperature(0.9).topP(0.5)
                .stopSequences(List.of("The end", "!")).frequencyPenalty(0.25).presencePenalty(-0.5).build()));

        SamplingParams p = request.params();
        assertThat(p.temperature()).isEqualTo(0.9f);
        assertThat(p.topK()).isEqualTo(40);
        assertThat(p.topP()).isEqualTo(0.5f);
        assertThat(p.stop()).containsExactly("The end", "!"); // the default's stop, once
        assertThat(p.frequencyPenalty()).isEqualTo(0.25f);
        assertThat(p.presencePenalty()).isEqualTo(-0.5f);
        assertThat(p.seed()).isNull();
        assertThat(request.options().getModel()).isEqualTo("m");
        assertThat(request.prompt().getOptions()).isEqualTo(request.options());
    }

    @Test
    void unsetMaxTokensLeavesWhatTheSequenceLengthAllows() {
        var request = mapper.map(new Prompt("Hi"));

        assertThat(request.params().maxTokens()).isEqualTo(llm.maxSeqLen() - request.promptTokenIds().length);
        assertThat(mapper.map(new Prompt("Hi", ChatOptions.builder().maxTokens(3).build())).params().maxTokens())
                .isEqualTo(3);
    }

    @Test
    void outOfRangeOptionsFailWithTheEnginesMessage() {
        assertThatThrownBy(() -> mapper.map(new Prompt("Hi", ChatOptions.builder().topP(1.5).build())))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("top_p").hasMessageContaining("1.5");
    }

    @Test
    void maxTokensBeyondTheSequenceLengthIsRefusedBeforeTheEngine() {
        int prompt = mapper.map(new Prompt("Hi")).promptTokenIds().length;
        int room = llm.maxSeqLen() - prompt;
        assertThat(mapper.map(new Prompt("Hi", ChatOptions.builder().maxTokens(room).build())).params().maxTokens())
                .isEqualTo(room);
        // Within the sequence length but beyond what the prompt leaves: the engine refuses it, naming both.
        assertThat(mapper.map(new Prompt("Hi", ChatOptions.builder().maxTokens(llm.maxSeqLen()).build())).params()
                .maxTokens()).isEqualTo(llm.maxSeqLen());
        for (int maxTokens : new int[] {llm.maxSeqLen() + 1, Integer.MAX_VALUE}) {
            assertThatThrownBy(() -> mapper.map(new Prompt("Hi", ChatOptions.builder().maxTokens(maxTokens).build())))
                    .as("maxTokens %d", maxTokens)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("max tokens (" + maxTokens + ")")
                    .hasMessageContaining("maximum sequence length " + llm.maxSeqLen())
                    .hasMessageContaining("at most " + room);
        }
        for (double temperature : new double[] {-1, 1e308, Double.NaN}) {
            assertThatThrownBy(() -> mapper.map(new Prompt("Hi", ChatOptions.builder().temperature(temperature).build())))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("temperature");
        }
        assertThatThrownBy(() -> mapper.map(new Prompt("Hi", ChatOptions.builder().maxTokens(-1).build())))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("max_tokens");
    }

    @Test
    void toolMessagesAreRefusedWhenTheModelHasNoToolsSupport() {
        var toolResponse = ToolResponseMessage.builder()
                .responses(List.of(new ToolResponseMessage.ToolResponse("1", "weather", "sunny"))).build();
        var toolCall = AssistantMessage.builder().content("")
                .toolCalls(List.of(new AssistantMessage.ToolCall("1", "function", "weather", "{}"))).build();

        assertThatThrownBy(() -> mapper.map(new Prompt(List.of(new UserMessage("Hi"), toolResponse))))
                .isInstanceOf(UnsupportedOperationException.class).hasMessageContaining("tool response")
                .hasMessageContaining("model 'm' has no chat template, so no tools support");
        assertThatThrownBy(() -> mapper.map(new Prompt(List.of(new UserMessage("Hi"), toolCall))))
                .isInstanceOf(UnsupportedOperationException.class).hasMessageContaining("tool calls")
                .hasMessageContaining("model 'm'");
    }
}
