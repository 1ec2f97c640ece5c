package io.trtllm.spring.openai;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.spring.chat.TrtLlmChatOptions;
import io.trtllm.spring.chat.TrtLlmRequestObserver;
import io.trtllm.spring.testing.SharedLlm;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Structured output and enforced tool calls on the real engine (stories15M, which writes neither on its
 * own): what the guides let through parses and fits, and what cannot compile is a 400 naming the field.
 * stories15M has no chat template, so enforced calls take the Hermes format.
 */
class TrtLlmOpenAiGuidedIT {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String MESSAGES = "\"messages\": [{\"role\": \"user\", \"content\": \"Once upon a time\"}]";
    private static final String TOOLS = """
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
               "properties": {"city": {"enum": ["Paris", "Rome"]}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
               "required": ["city", "days"]}}},
             {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
               "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 99}, "b": {"type": "integer",
               "minimum": 0, "maximum": 99}}, "required": ["a", "b"]}}}]""";

    private final WebTestClient client = WebTestClient.bindToRouterFunction(new TrtLlmOpenAiApi(SharedLlm.get(),
                    "stories15M", TrtLlmChatOptions.builder().build(), 4, TrtLlmRequestObserver.NOOP).routes("/v1"))
            .build().mutate().responseTimeout(Duration.ofSeconds(120)).build();

    @AfterEach
    void engineIsIdle() throws InterruptedException {
        SharedLlm.awaitIdle(SharedLlm.get());
        assertThat(SharedLlm.get().failure()).isNull();
        assertThat(SharedLlm.get().stats().kvCache().usedBlocks()).isZero();
    }

    private JsonNode post(String path, String body) {
        byte[] out = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return JSON.readTree(out);
    }

    private JsonNode expect400(String path, String body, String param) {
        byte[] out = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isBadRequest().expectBody().returnResult().getResponseBody();
        JsonNode error = JSON.readTree(out).get("error");
        assertThat(error.get("type").asString()).isEqualTo("invalid_request_error");
        assertThat(error.get("param").asString()).as(body).isEqualTo(param);
        assertThat(error.get("message").asString()).doesNotContain("Exception").doesNotContain("io.trtllm")
                .doesNotContain(SharedLlm.get().modelDirectory().toString());
        return error;
    }

    @Test
    void jsonSchemaResponseFormatGivesAnInstanceOfTheSchema() {
        JsonNode choices = post("/v1/chat/completions", "{" + MESSAGES + """
                , "max_tokens": 80, "temperature": 0.8, "seed": 3, "n": 3,
                 "response_format": {"type": "json_schema", "json_schema": {"name": "hero", "strict": true, "schema":
                   {"type": "object", "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 12},
                    "age": {"type": "integer", "minimum": 0, "maximum": 120}, "good": {"type": "boolean"}},
                    "required": ["name", "age", "good"]}}}}""").get("choices");
        assertThat(choices).hasSize(3);
        for (JsonNode choice : choices) {
            assertThat(choice.get("finish_reason").asString()).isEqualTo("stop");
            JsonNode hero = JSON.readTree(choice.at("/message/content").asString());
            assertThat(hero.size()).isEqualTo(3);
            String name = hero.get("name").asString();
            assertThat(name.codePointCount(0, name.length())).isBetween(1, 12);
            assertThat(hero.get("age").asInt()).isBetween(0, 120);
            assertThat(hero.get("good").isBoolean()).isTrue();
        }

        JsonNode object = post("/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 24, \"temperature\": 0, "
                + "\"response_format\": {\"type\": \"json_object\"}}").at("/choices/0");
        String text = object.get("text").asString();
        // A viable prefix of an object even where max_tokens cut it off; a whole one when it stopped.
        assertThat(text).startsWith("{");
        if (object.get("finish_reason").asString().equals("stop")) {
            assertThat(JSON.readTree(text).isObject()).isTrue();
        }
    }

    @Test
    void regexAndChoiceGuidesOnCompletionsAndChat() {
        for (int seed = 0; seed < 3; seed++) {
            String regex = post("/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 16, \"temperature\": 1, "
                    + "\"seed\": " + seed + ", \"guided_regex\": \"(yes|no), [0-9]{2}\"}").at("/choices/0/text").asString();
            assertThat(regex).matches("(yes|no), [0-9]{2}");
            String choice = post("/v1/chat/completions", "{" + MESSAGES + ", \"max_tokens\": 16, \"temperature\": 1, "
                    + "\"seed\": " + seed + ", \"structured_outputs\": {\"choice\": [\"cat\", \"dog\", \"Lily\"]}}")
                    .at("/choices/0/message/content").asString();
            assertThat(choice).isIn("cat", "dog", "Lily");
        }
    }

    @Test
    void requiredToolChoiceIsEnforcedAndParsedIntoToolCalls() {
        for (int seed = 0; seed < 3; seed++) {
            JsonNode choice = post("/v1/chat/completions", "{" + MESSAGES + ", " + TOOLS + ", \"tool_choice\": "
                    + "\"required\", \"parallel_tool_calls\": false, \"max_tokens\": 120, \"temperature\": 1, \"seed\": "
                    + seed + "}").at("/choices/0");
            assertThat(choice.get("finish_reason").asString()).isEqualTo("tool_calls");
            JsonNode calls = choice.at("/message/tool_calls");
            assertThat(calls).hasSize(1);
            checkCall(calls.get(0));
            assertThat(choice.at("/message/content").isNull()).isTrue();
        }
        JsonNode named = post("/v1/chat/completions", "{" + MESSAGES + ", " + TOOLS + ", \"tool_choice\": {\"type\": "
                + "\"function\", \"function\": {\"name\": \"add\"}}, \"max_tokens\": 120, \"temperature\": 0}")
                .at("/choices/0/message/tool_calls");
        assertThat(named).hasSize(1);
        assertThat(named.at("/0/function/name").asString()).isEqualTo("add");
        checkCall(named.get(0));
    }

    private static void checkCall(JsonNode call) {
        assertThat(call.get("id").asString()).startsWith("call_");
        assertThat(call.get("type").asString()).isEqualTo("function");
        String name = call.at("/function/name").asString();
        assertThat(name).isIn("get_weather", "add");
        JsonNode args = JSON.readTree(call.at("/function/arguments").asString());
        if (name.equals("get_weather")) {
            assertThat(args.get("city").asString()).isIn("Paris", "Rome");
            assertThat(args.get("days").asInt()).isBetween(1, 7);
        } else {
            assertThat(Set.of(args.get("a").asInt(), args.get("b").asInt())).allSatisfy(v -> assertThat(v).isBetween(0, 99));
        }
    }

    @Test
    void anEnforcedStreamReassemblesToTheGreedyResponse() {
        String body = "{" + MESSAGES + ", " + TOOLS + ", \"tool_choice\": \"required\", \"parallel_tool_calls\": false, "
                + "\"max_tokens\": 120, \"temperature\": 0";
        JsonNode whole = post("/v1/chat/completions", body + "}").at("/choices/0/message/tool_calls/0");
        byte[] out = client.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(body + ", \"stream\": true}").exchange().expectStatus().isOk().expectBody().returnResult()
                .getResponseBody();
        StringBuilder arguments = new StringBuilder();
        List<String> names = new ArrayList<>();
        String finish = null;
        for (String line : new String(out, StandardCharsets.UTF_8).split("\n")) {
            if (!line.startsWith("data:") || line.contains("[DONE]")) {
                continue;
            }
            JsonNode c = JSON.readTree(line.substring(5)).at("/choices/0");
            for (JsonNode piece : c.at("/delta/tool_calls")) {
                assertThat(piece.get("index").asInt()).isZero();
                if (piece.has("id")) {
                    names.add(piece.at("/function/name").asString());
                }
                arguments.append(piece.at("/function/arguments").asString(""));
            }
            if (!c.get("finish_reason").isNull()) {
                finish = c.get("finish_reason").asString();
            }
        }
        assertThat(names).containsExactly(whole.at("/function/name").asString());
        assertThat(arguments.toString()).isEqualTo(whole.at("/function/arguments").asString());
        assertThat(finish).isEqualTo("tool_calls");
    }

    @Test
    void guidesThatCannotCompileAre400sNamingTheFieldKeywordAndPointer() {
        JsonNode notKeyword = expect400("/v1/chat/completions", "{" + MESSAGES + ", \"response_format\": {\"type\": "
                + "\"json_schema\", \"json_schema\": {\"name\": \"x\", \"schema\": {\"type\": \"object\", \"properties\": "
                + "{\"a\": {\"not\": {\"type\": \"string\"}}}}}}}", "response_format");
        assertThat(notKeyword.get("message").asString()).contains("'not'", "/properties/a");
        JsonNode invalidSchema = expect400("/v1/completions", "{\"prompt\": \"a\", \"guided_json\": {\"type\": "
                + "\"string\", \"minLength\": 5, \"maxLength\": 2}}", "guided_json");
        assertThat(invalidSchema.get("message").asString()).isNotBlank();
        JsonNode nothing = expect400("/v1/completions", "{\"prompt\": \"a\", \"guided_regex\": \"[]\"}", "guided_regex");
        assertThat(nothing.get("message").asString()).contains("matches no text");
        expect400("/v1/chat/completions", "{" + MESSAGES + ", \"structured_outputs\": {\"grammar\": \"root ::= root\"}}",
                "structured_outputs.grammar");
        JsonNode tool = expect400("/v1/chat/completions", "{" + MESSAGES + ", \"tools\": [{\"type\": \"function\", "
                + "\"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", \"properties\": {\"x\": "
                + "{\"if\": {}}}}}}], \"tool_choice\": \"required\"}", "tools[0].function.parameters");
        assertThat(tool.get("message").asString()).contains("'if'", "/properties/x");
        expect400("/v1/chat/completions", "{" + MESSAGES + ", " + TOOLS + ", \"tool_choice\": {\"type\": \"function\", "
                + "\"function\": {\"name\": \"get_time\"}}}", "tool_choice.function.name");
        // stories15M has no chat template: it cannot call tools on its own.
        JsonNode auto = expect400("/v1/chat/completions", "{" + MESSAGES + ", " + TOOLS + "}", "tool_choice");
        assertThat(auto.get("message").asString()).contains("'required'");
        // A bad guide in a stream is answered before any event, with its status.
        expect400("/v1/completions", "{\"prompt\": \"a\", \"stream\": true, \"guided_regex\": \"[]\"}", "guided_regex");
    }
}
