package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.config.ChatMessage;
import io.trtllm.testing.TestFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The API's tokenizer over the Hugging Face one: the same ids, text and template output, the
 * template's refusals as the API's exceptions (same message, origin and reason; the tokenizer's as
 * the cause), and a view that its holder cannot free.
 */
class TransformersTokenizerTests {

    /** A Qwen3 tokenizer with {@code chatTemplate} as its chat template, in {@code dir}. */
    private static TransformersTokenizer withTemplate(Path dir, String chatTemplate) throws IOException {
        Files.copy(TestFixtures.qwen3Tokenizer().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"), new ObjectMapper().writeValueAsString(
                Map.of("chat_template", chatTemplate, "eos_token", "<|im_end|>")));
        return TransformersTokenizer.load(dir);
    }

    @Test
    void answersAsTheTokenizerUnderneath(@TempDir Path dir) throws IOException {
        try (var api = withTemplate(dir, "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
                + "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}");
             var hf = io.trtllm.tokenizer.Tokenizer.load(dir)) {
            List<ChatMessage> chat = List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hello there"));

            assertThat(api.encode("Hello there", true)).containsExactly(hf.encode("Hello there", true));
            assertThat(api.decode(hf.encode("Hello there", false), true)).isEqualTo("Hello there");
            assertThat(api.vocabSize()).isEqualTo(hf.vocabSize());
            assertThat(api.tokenToId("<|im_end|>")).isEqualTo(151645);
            assertThat(api.isSpecialToken(151645)).isTrue();
            assertThat(api.eosTokenIds()).containsExactly(151645);
            assertThat(api.hasChatTemplate()).isTrue();
            assertThat(api.chatTemplateOrigin()).isEqualTo(hf.chatTemplate().origin());
            assertThat(api.chatTemplateSource()).isEqualTo(hf.chatTemplate().source());
            assertThat(api.applyChatTemplate(chat, true)).isEqualTo(hf.applyChatTemplate(chat, true))
                    .isEqualTo("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello there<|im_end|>\n"
                            + "<|im_start|>assistant\n");
            assertThat(api.encodeChat(chat, true)).containsExactly(hf.encodeChat(chat, true));
            assertThat(api.encodeChat(chat, true, Map.of())).containsExactly(hf.encode(api.applyChatTemplate(chat, true), false));
        }
    }

    @Test
    void aRefusalIsTheApisChatTemplateException(@TempDir Path dir) throws IOException {
        try (var api = withTemplate(dir, "{{ raise_exception('System messages are not supported') }}")) {
            String origin = dir.resolve("tokenizer_config.json").toString();

            assertThatThrownBy(() -> api.encodeChat(List.of(ChatMessage.system("x")), true))
                    .isExactlyInstanceOf(ChatTemplateException.class)
                    .hasMessage(origin + ": the chat template rejected the conversation: System messages are not supported")
                    .hasCauseExactlyInstanceOf(io.trtllm.tokenizer.ChatTemplateException.class)
                    .satisfies(e -> {
                        assertThat(((ChatTemplateException) e).reason())
                                .isEqualTo("the chat template rejected the conversation: System messages are not supported");
                        assertThat(((ChatTemplateException) e).origin()).isEqualTo(origin);
                    });
            assertThatThrownBy(() -> api.applyChatTemplate(List.of(ChatMessage.user("x")), true, Map.of()))
                    .isExactlyInstanceOf(ChatTemplateException.class);
        }
    }

    @Test
    void aRenderPastItsLimitsIsTheApisTemplateLimitException(@TempDir Path dir) throws IOException {
        // Whichever comes first: 4 Mi characters of x, or the 5 s render limit.
        try (var api = withTemplate(dir, "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}x"
                + "{% endfor %}{% endfor %}{% endfor %}")) {
            long start = System.nanoTime();

            assertThatThrownBy(() -> api.applyChatTemplate(List.of(ChatMessage.user("hi")), true))
                    .isInstanceOf(TemplateLimitException.class)
                    .isInstanceOf(ChatTemplateException.class)
                    .hasCauseExactlyInstanceOf(io.trtllm.tokenizer.TemplateLimitException.class)
                    .satisfies(e -> assertThat(((TemplateLimitException) e).reason())
                            .matches("rendering the chat template took longer than its limit of 5000 ms|the chat template's "
                                    + "output or a string it builds would exceed its limit of 4194304 characters"));
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        }
    }

    @Test
    void closingAViewLeavesTheTokenizerToItsOwner() {
        try (var owned = io.trtllm.tokenizer.Tokenizer.load(TestFixtures.qwen3Tokenizer())) {
            var view = new TransformersTokenizer(owned, false);
            view.close();
            assertThat(view.encode("Hello", false)).containsExactly(9707);
        }
        var loaded = TransformersTokenizer.load(TestFixtures.qwen3Tokenizer());
        loaded.close();
        assertThatThrownBy(() -> loaded.encode("Hello", false)).isInstanceOf(IllegalStateException.class)
                .hasMessageEndingWith("is closed");
    }
}
