package io.trtllm.spring.chat;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.prompt.ChatOptions;

/** Copy, mutate and merge of TrtLlmChatOptions by Spring AI 2.0's rules. */
class TrtLlmChatOptionsTests {
    private final TrtLlmChatOptions full = TrtLlmChatOptions.builder().model("m").temperature(0.5).topK(10).topP(0.9)
            .maxTokens(20).stopSequences(List.of("a")).presencePenalty(0.1).frequencyPenalty(0.2)
            .repetitionPenalty(1.2).seed(3L).toolContext("k", "v").build();

    @Test
    void mutateCopiesEveryOption() {
        assertThat(full.mutate().build()).isEqualTo(full).hasSameHashCodeAs(full).isNotSameAs(full);
        assertThat(full.mutate().seed(4L).build()).isNotEqualTo(full);
        assertThat(full.mutate().repetitionPenalty(1.0).build()).isNotEqualTo(full);
    }

    @Test
    void setValuesOfTheOtherWinAndStopSequencesAreAppended() {
        var merged = full.merge(TrtLlmChatOptions.builder().temperature(0.0).seed(9L).repetitionPenalty(1.5)
                .stopSequences(List.of("b")).build());

        assertThat(merged.getTemperature()).isEqualTo(0.0);
        assertThat(merged.getSeed()).isEqualTo(9L);
        assertThat(merged.getRepetitionPenalty()).isEqualTo(1.5);
        assertThat(merged.getStopSequences()).containsExactly("a", "b");
        assertThat(merged.getTopK()).isEqualTo(10);
        assertThat(merged.getToolContext()).containsEntry("k", "v");
        assertThat(full.getTemperature()).isEqualTo(0.5); // the defaults are not changed
    }

    @Test
    void portableOptionsMergeToo() {
        var merged = full.merge(ChatOptions.builder().topP(0.3).maxTokens(5).build());

        assertThat(merged.getTopP()).isEqualTo(0.3);
        assertThat(merged.getMaxTokens()).isEqualTo(5);
        assertThat(merged.getSeed()).isEqualTo(3L);
        assertThat(full.merge(null)).isSameAs(full);
    }

    @Test
    void aClonedBuilderIsIndependent() {
        var builder = full.mutate();
        var copy = builder.clone().seed(11L).stopSequences(List.of("z"));

        assertThat(builder.build()).isEqualTo(full);
        assertThat(copy.build().getSeed()).isEqualTo(11L);
        assertThat(copy.build().getStopSequences()).containsExactly("z");
    }
}
