package io.trtllm.tokenizer;

import static io.trtllm.api.config.ChatMessage.assistant;
import static io.trtllm.api.config.ChatMessage.system;
import static io.trtllm.api.config.ChatMessage.user;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.ChatMessage;
import io.trtllm.model.ModelFormatException;
import io.trtllm.testing.TestFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real chat templates of Qwen3, Llama 3 and Mistral Instruct render what transformers'
 * {@code apply_chat_template} renders. Expected strings follow the templates line by line (comments say which branch).
 */
class ChatTemplateTests {
    private static Tokenizer qwen3;
    private static Tokenizer llama3;

    @BeforeAll
    static void load() {
        qwen3 = Tokenizer.load(TestFixtures.qwen3Tokenizer());
        llama3 = Tokenizer.load(TestFixtures.llama3Tokenizer());
    }

    @AfterAll
    static void close() {
        qwen3.close();
        llama3.close();
    }

    @Test
    void qwen3SystemAndUserWithGenerationPrompt() {
        String prompt = qwen3.applyChatTemplate(List.of(system("You are a helpful assistant."), user("What is 2+2?")), true);
        assertThat(prompt).isEqualTo("""
                <|im_start|>system
                You are a helpful assistant.<|im_end|>
                <|im_start|>user
                What is 2+2?<|im_end|>
                <|im_start|>assistant
                """);
    }

    @Test
    void qwen3WithoutGenerationPromptEndsAfterTheLastMessage() {
        String prompt = qwen3.applyChatTemplate(List.of(system("You are a helpful assistant."), user("What is 2+2?")), false);
        assertThat(prompt).isEqualTo("""
                <|im_start|>system
                You are a helpful assistant.<|im_end|>
                <|im_start|>user
                What is 2+2?<|im_end|>
                """);
    }

    @Test
    void qwen3LastAssistantAnswerGetsAnEmptyThinkBlock() {
        // The assistant message comes after the last user query and is the last message: the template
        // writes <think> with the (empty) reasoning before the content.
        String prompt = qwen3.applyChatTemplate(
                List.of(system("You are a helpful assistant."), user("What is 2+2?"), assistant("4")), false);
        assertThat(prompt).isEqualTo("""
                <|im_start|>system
                You are a helpful assistant.<|im_end|>
                <|im_start|>user
                What is 2+2?<|im_end|>
                <|im_start|>assistant
                <think>

                </think>

                4<|im_end|>
                """);
    }

    @Test
    void qwen3DropsReasoningOfEarlierTurnsAndKeepsItAfterTheLastQuery() {
        List<ChatMessage> conversation = List.of(
                user("Q1"),
                assistant("<think>\nreason1\n</think>\n\nA1"),
                user("Q2"),
                assistant("<think>\nreason2\n</think>\n\nA2"));
        assertThat(qwen3.applyChatTemplate(conversation, false)).isEqualTo("""
                <|im_start|>user
                Q1<|im_end|>
                <|im_start|>assistant
                A1<|im_end|>
                <|im_start|>user
                Q2<|im_end|>
                <|im_start|>assistant
                <think>
                reason2
                </think>

                A2<|im_end|>
                """);
    }

    @Test
    void qwen3MultiTurnWithGenerationPrompt() {
        List<ChatMessage> conversation = List.of(
                user("Hi"),
                assistant("<think>\nThe user greets.\n</think>\n\nHello! How can I help?"),
                user("Tell me a joke."));
        assertThat(qwen3.applyChatTemplate(conversation, true)).isEqualTo("""
                <|im_start|>user
                Hi<|im_end|>
                <|im_start|>assistant
                Hello! How can I help?<|im_end|>
                <|im_start|>user
                Tell me a joke.<|im_end|>
                <|im_start|>assistant
                """);
    }

    @Test
    void qwen3EnableThinkingFalseAddsAnEmptyThinkBlockToThePrompt() {
        String prompt = qwen3.applyChatTemplate(List.of(user("Hi")), true, Map.of("enable_thinking", false));
        assertThat(prompt).isEqualTo("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
    }

    @Test
    void qwen3SystemMessageAfterTheFirstIsRenderedInPlace() {
        String prompt = qwen3.applyChatTemplate(List.of(user("Hi"), system("Be terse.")), false);
        assertThat(prompt).isEqualTo("<|im_start|>user\nHi<|im_end|>\n<|im_start|>system\nBe terse.<|im_end|>\n");
    }

    @Test
    void qwen3PromptIdsEndWithTheAssistantHeader() {
        int[] ids = qwen3.encodeChat(List.of(user("Hi")), true);
        // <|im_start|> user \n Hi <|im_end|> \n <|im_start|> assistant \n
        assertThat(ids).startsWith(qwen3.tokenToId("<|im_start|>"));
        assertThat(qwen3.decode(ids, false)).isEqualTo("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        assertThat(ids).contains(qwen3.tokenToId("<|im_end|>"));
    }

    @Test
    void rendersConcurrently() throws Exception {
        List<ChatMessage> conversation = List.of(system("S"), user("Q"), assistant("<think>\nr\n</think>\n\nA"), user("Q2"));
        String expected = qwen3.applyChatTemplate(conversation, true);
        try (var pool = java.util.concurrent.Executors.newFixedThreadPool(8)) {
            List<java.util.concurrent.Future<String>> renders = new java.util.ArrayList<>();
            for (int i = 0; i < 200; i++) {
                renders.add(pool.submit(() -> qwen3.applyChatTemplate(conversation, true)));
            }
            for (var render : renders) {
                assertThat(render.get()).isEqualTo(expected);
            }
        }
    }

    @Test
    void llama3RendersHeadersBosAndTrimmedContent() {
        // Llama 3 (base) always ends with the assistant header, with or without add_generation_prompt,
        // and trims each message's content.
        List<ChatMessage> conversation = List.of(system("  Be brief.  "), user(" Hi \n"), assistant("Hello."));
        String expected = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n";
        assertThat(llama3.applyChatTemplate(conversation, false)).isEqualTo(expected);
        assertThat(llama3.applyChatTemplate(conversation, true)).isEqualTo(expected);
    }

    @Test
    void llama3SingleUserMessage() {
        assertThat(llama3.applyChatTemplate(List.of(user("What is the capital of France?")), true)).isEqualTo(
                "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>"
                        + "<|start_header_id|>assistant<|end_header_id|>\n\n");
    }

    @Test
    void llama3PromptIdsStartWithBosOnce() {
        int[] ids = llama3.encodeChat(List.of(user("Hi")), true);
        assertThat(ids[0]).isEqualTo(llama3.tokenToId("<|begin_of_text|>"));
        assertThat(ids).containsOnlyOnce(llama3.tokenToId("<|begin_of_text|>"));
    }

    /** Mistral-7B-Instruct-v0.1's chat_template (tokenizer_config.json), as published. */
    static final String MISTRAL_INSTRUCT = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') "
            + "!= (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/"
            + "assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
            + "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}"
            + "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    @Test
    void mistralInstructRendersAsJinja2() {
        // Expected strings are Jinja2 3.1's output in transformers' environment (sandboxed, trim_blocks,
        // lstrip_blocks, raise_exception), with bos_token <s> and eos_token </s>.
        ChatTemplate mistral = new ChatTemplate(MISTRAL_INSTRUCT, "mistral");
        Map<String, String> tokens = Map.of("bos_token", "<s>", "eos_token", "</s>");
        List<ChatMessage> conversation = List.of(user("What is your favourite condiment?"),
                assistant("Well, I'm quite partial to a good squeeze of fresh lemon juice."),
                user("Do you have mayonnaise recipes?"));
        assertThat(mistral.render(conversation, true, tokens)).isEqualTo("<s>[INST] What is your favourite condiment? [/INST]"
                + "Well, I'm quite partial to a good squeeze of fresh lemon juice.</s> [INST] Do you have mayonnaise recipes? [/INST]");
        assertThat(mistral.render(List.of(user("{{ 6*7 }} {% include 'application.yml' %}")), true, tokens))
                .isEqualTo("<s>[INST] {{ 6*7 }} {% include 'application.yml' %} [/INST]");
        assertThatThrownBy(() -> mistral.render(List.of(system("x")), true, tokens))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessage("mistral: the chat template rejected the conversation: "
                        + "Conversation roles must alternate user/assistant/user/assistant/...")
                .satisfies(e -> assertThat(((ChatTemplateException) e).reason())
                        .isEqualTo("the chat template rejected the conversation: "
                                + "Conversation roles must alternate user/assistant/user/assistant/..."));
    }

    @Test
    void withoutTemplateMessagesAreJoinedByNewlinesSystemFirst(@TempDir Path dir) throws IOException {
        try (Tokenizer tokenizer = tokenizerWithConfig(dir, "{\"eos_token\": \"<|endoftext|>\"}")) {
            assertThat(tokenizer.hasChatTemplate()).isFalse();
            List<ChatMessage> conversation = List.of(user("Once upon a time"), system("Be brief."), assistant("there was"));
            assertThat(tokenizer.applyChatTemplate(conversation, true)).isEqualTo("Be brief.\nOnce upon a time\nthere was");
            assertThat(tokenizer.applyChatTemplate(conversation, false)).isEqualTo("Be brief.\nOnce upon a time\nthere was");
            assertThat(tokenizer.applyChatTemplate(List.of(), true)).isEmpty();
            assertThat(tokenizer.encodeChat(List.of(user("Hello world")), true))
                    .containsExactly(tokenizer.encode("Hello world", true));
        }
    }

    @Test
    void templateListPicksTheDefault(@TempDir Path dir) throws IOException {
        String config = """
                {"chat_template": [
                  {"name": "tool_use", "template": "TOOLS"},
                  {"name": "default", "template": "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"}
                ]}""";
        try (Tokenizer tokenizer = tokenizerWithConfig(dir, config)) {
            assertThat(tokenizer.applyChatTemplate(List.of(user("hi")), true)).isEqualTo("[user]hi");
            assertThat(tokenizer.chatTemplate().origin()).contains("tokenizer_config.json").contains("default");
        }
    }

    @Test
    void templateListWithoutDefaultIsAnError(@TempDir Path dir) throws IOException {
        assertThatThrownBy(() -> tokenizerWithConfig(dir, "{\"chat_template\": [{\"name\": \"rag\", \"template\": \"x\"}]}"))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("tokenizer_config.json")
                .hasMessageContaining("[rag]");
    }

    @Test
    void chatTemplateJinjaFileIsUsedWhenTheConfigHasNone(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("chat_template.jinja"), "{{ bos_token }}{{ messages[0].content }}\n");
        try (Tokenizer tokenizer = tokenizerWithConfig(dir, "{\"bos_token\": \"<|endoftext|>\"}")) {
            assertThat(tokenizer.applyChatTemplate(List.of(user("hi")), true)).isEqualTo("<|endoftext|>hi");
        }
    }

    @Test
    void specialTokensAreTemplateVariables(@TempDir Path dir) throws IOException {
        String config = """
                {"bos_token": {"content": "<|im_start|>", "lstrip": false},
                 "eos_token": "<|im_end|>",
                 "chat_template": "{{ bos_token }}|{{ eos_token }}|{{ pad_token is defined }}|{{ add_generation_prompt }}"}""";
        try (Tokenizer tokenizer = tokenizerWithConfig(dir, config)) {
            assertThat(tokenizer.applyChatTemplate(List.of(), true)).isEqualTo("<|im_start|>|<|im_end|>|False|True");
            assertThat(tokenizer.bosToken()).isEqualTo("<|im_start|>");
            assertThat(tokenizer.eosTokenIds()).containsExactly(tokenizer.tokenToId("<|im_end|>"));
        }
    }

    @Test
    void raiseExceptionIsAChatTemplateExceptionNamingTheFile(@TempDir Path dir) throws IOException {
        String config = """
                {"chat_template": "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ m.content }}{% endfor %}"}""";
        try (Tokenizer tokenizer = tokenizerWithConfig(dir, config)) {
            assertThat(tokenizer.applyChatTemplate(List.of(user("a"), assistant("b")), true)).isEqualTo("ab");
            assertThatThrownBy(() -> tokenizer.applyChatTemplate(List.of(user("a"), user("b")), true))
                    .isInstanceOf(ChatTemplateException.class)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(dir.resolve("tokenizer_config.json").toString())
                    .hasMessageContaining("Conversation roles must alternate user/assistant/user/assistant/...");
        }
    }

    @Test
    void brokenTemplateIsAModelFormatExceptionNamingTheFile(@TempDir Path dir) throws IOException {
        try (Tokenizer tokenizer = tokenizerWithConfig(dir, "{\"chat_template\": \"{{ no_such_function(messages) }}\"}")) {
            assertThatThrownBy(() -> tokenizer.applyChatTemplate(List.of(user("a")), true))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(dir.resolve("tokenizer_config.json").toString())
                    .hasMessageContaining("no_such_function");
        }
        try (Tokenizer tokenizer = tokenizerWithConfig(dir, "{\"chat_template\": \"{% for m in messages %}{{ m.content }}\"}")) {
            assertThatThrownBy(() -> tokenizer.applyChatTemplate(List.of(user("a")), true))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(dir.resolve("tokenizer_config.json").toString());
        }
    }

    /** Qwen3's tokenizer.json with {@code config} as tokenizer_config.json. */
    private static Tokenizer tokenizerWithConfig(Path dir, String config) throws IOException {
        Files.copy(TestFixtures.qwen3Tokenizer().resolve("tokenizer.json"), dir.resolve("tokenizer.json"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.writeString(dir.resolve("tokenizer_config.json"), config);
        return Tokenizer.load(dir);
    }
}
