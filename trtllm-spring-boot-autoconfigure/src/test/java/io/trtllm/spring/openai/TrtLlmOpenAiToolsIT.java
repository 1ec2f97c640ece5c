package io.trtllm.spring.openai;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.CompletionOutput;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.TransformersTokenizer;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import io.trtllm.spring.chat.TrtLlmRequestObserver;
import io.trtllm.spring.testing.SharedLlm;
import io.trtllm.testing.TestFixtures;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Flow;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.adapter.JdkFlowAdapter;
import reactor.core.publisher.Flux;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * Tools and reasoning over HTTP with Qwen3's real chat template and scripted replies (no model here writes
 * tool calls on its own): the prompt the template renders, the parsed {@code tool_calls} and
 * {@code reasoning_content}, and streams whose deltas reassemble to the whole response. The engine is the
 * shared stories15M only for the API's limits; replies come from the script.
 */
class TrtLlmOpenAiToolsIT {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String TOOLS = """
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
             {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
              "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}]""";
    private static final String REPLY = """
            <think>
            The user wants weather and a sum.
            </think>

            Let me check.
            <tool_call>
            {"name": "get_weather", "arguments": {"city": "Paris"}}
            </tool_call>
            <tool_call>
            {"name": "add", "arguments": {"a": 2, "b": 3}}
            </tool_call>""";

    static TransformersTokenizer qwen3;

    @BeforeAll
    static void load() {
        qwen3 = TransformersTokenizer.load(TestFixtures.qwen3Tokenizer());
    }

    @AfterAll
    static void close() {
        qwen3.close();
    }

    /** Answers every request with {@code reply}; streams it in random pieces of 1 to 7 characters. */
    static final class Script implements TrtLlmOpenAiApi.Engine {
        final String reply;
        final List<String> prompts = new CopyOnWriteArrayList<>();
        final List<SamplingParams> params = new CopyOnWriteArrayList<>();
        final Random random = new Random(7);

        Script(String reply) {
            this.reply = reply;
        }

        private RequestOutput output(int[] prompt, String text, String diff, boolean finished) {
            var metrics = new RequestMetrics(prompt.length, 5, 0, 1, 2, 3);
            return new RequestOutput("req", "", prompt, List.of(new CompletionOutput(0, text, new int[0], null, List.of(),
                    finished ? CompletionOutput.STOP : null, null, diff, new int[0])), finished, metrics);
        }

        @Override
        public CompletableFuture<RequestOutput> generateAsync(int[] promptTokenIds, SamplingParams params) {
            prompts.add(qwen3.decode(promptTokenIds, false));
            this.params.add(params);
            return CompletableFuture.completedFuture(output(promptTokenIds, reply, reply, true));
        }

        @Override
        public Flow.Publisher<RequestOutput> generateStream(int[] promptTokenIds, SamplingParams params) {
            prompts.add(qwen3.decode(promptTokenIds, false));
            this.params.add(params);
            List<RequestOutput> updates = new ArrayList<>();
            int at = 0;
            synchronized (random) {
                while (at < reply.length()) {
                    int end = Math.min(reply.length(), at + 1 + random.nextInt(7));
                    updates.add(output(promptTokenIds, reply.substring(0, end), reply.substring(at, end), false));
                    at = end;
                }
            }
            updates.add(output(promptTokenIds, reply, "", true));
            return JdkFlowAdapter.publisherToFlowPublisher(Flux.fromIterable(updates));
        }
    }

    private static WebTestClient client(Script script) {
        var api = new TrtLlmOpenAiApi(SharedLlm.get(), "qwen3", TrtLlmChatOptions.builder().build(), 4,
                TrtLlmRequestObserver.NOOP, JSON, GenAiServerObserver.NOOP, qwen3, script);
        return WebTestClient.bindToRouterFunction(api.routes("/v1")).build().mutate()
                .responseTimeout(Duration.ofSeconds(60)).build();
    }

    private static JsonNode post(WebTestClient client, String body) {
        byte[] out = client.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return JSON.readTree(out);
    }

    /** The chunks of a stream, each a parsed {@code data:} line before {@code [DONE]}. */
    private static List<JsonNode> stream(WebTestClient client, String body) {
        byte[] out = client.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        List<JsonNode> chunks = new ArrayList<>();
        boolean done = false;
        for (String line : new String(out, StandardCharsets.UTF_8).split("\n")) {
            if (!line.startsWith("data:")) {
                continue;
            }
            String data = line.substring(5).trim();
            if (data.equals("[DONE]")) {
                done = true;
            } else {
                chunks.add(JSON.readTree(data));
            }
        }
        assertThat(done).isTrue();
        return chunks;
    }

    /** A stream's deltas joined as a client joins them: {@code message} of the non-streamed response. */
    private static ObjectNode reassemble(List<JsonNode> chunks) {
        StringBuilder content = new StringBuilder();
        StringBuilder reasoning = new StringBuilder();
        List<ObjectNode> calls = new ArrayList<>();
        for (JsonNode chunk : chunks) {
            JsonNode delta = chunk.path("choices").path(0).path("delta");
            content.append(delta.path("content").asString(""));
            reasoning.append(delta.path("reasoning_content").asString(""));
            for (JsonNode piece : delta.path("tool_calls")) {
                int index = piece.get("index").asInt();
                if (piece.has("id")) {
                    assertThat(index).as("calls open in order").isEqualTo(calls.size());
                    assertThat(piece.get("type").asString()).isEqualTo("function");
                    ObjectNode call = JsonNodeFactory.instance.objectNode().put("id", piece.get("id").asString())
                            .put("type", "function");
                    call.putObject("function").put("name", piece.path("function").get("name").asString())
                            .put("arguments", "");
                    calls.add(call);
                } else {
                    assertThat(piece.path("function").has("name")).as("only the first piece names the call").isFalse();
                }
                ObjectNode function = (ObjectNode) calls.get(index).get("function");
                function.put("arguments", function.get("arguments").asString()
                        + piece.path("function").path("arguments").asString(""));
            }
        }
        ObjectNode message = JsonNodeFactory.instance.objectNode().put("role", "assistant");
        if (calls.isEmpty() || !content.isEmpty()) {
            message.put("content", content.toString());
        } else {
            message.putNull("content");
        }
        if (!reasoning.isEmpty()) {
            message.put("reasoning_content", reasoning.toString());
        }
        if (!calls.isEmpty()) {
            ArrayNode array = message.putArray("tool_calls");
            calls.forEach(array::add);
        }
        return message;
    }

    /** A message with the calls' ids (random per response) replaced by their index. */
    private static JsonNode withoutIds(JsonNode message) {
        ObjectNode copy = (ObjectNode) message.deepCopy();
        int i = 0;
        for (JsonNode call : copy.path("tool_calls")) {
            assertThat(call.get("id").asString()).matches("call_[A-Za-z0-9]{24}");
            ((ObjectNode) call).put("id", "#" + i++);
        }
        return copy;
    }

    @Test
    void toolsAreRenderedAndTheReplyIsReadIntoReasoningContentAndToolCalls() {
        var script = new Script(REPLY);
        JsonNode response = post(client(script), "{\"messages\": [{\"role\": \"user\", \"content\": \"Weather in Paris, "
                + "and 2+3?\"}], " + TOOLS + "}");

        assertThat(script.prompts.getFirst()).contains("<tools>", "\"name\": \"get_weather\"", "\"name\": \"add\"",
                "<tool_call>");
        assertThat(script.params.getFirst().guidedDecoding()).isNull(); // auto: the model decides
        JsonNode choice = response.get("choices").get(0);
        assertThat(choice.get("finish_reason").asString()).isEqualTo("tool_calls");
        JsonNode message = choice.get("message");
        assertThat(message.get("content").asString()).isEqualTo("Let me check.");
        assertThat(message.get("reasoning_content").asString()).isEqualTo("The user wants weather and a sum.");
        JsonNode calls = message.get("tool_calls");
        assertThat(calls).hasSize(2);
        assertThat(calls.get(0).get("type").asString()).isEqualTo("function");
        assertThat(calls.get(0).get("function").get("name").asString()).isEqualTo("get_weather");
        assertThat(JSON.readTree(calls.get(0).get("function").get("arguments").asString()))
                .isEqualTo(JSON.readTree("{\"city\": \"Paris\"}"));
        assertThat(JSON.readTree(calls.get(1).get("function").get("arguments").asString()))
                .isEqualTo(JSON.readTree("{\"a\": 2, \"b\": 3}"));
        assertThat(calls.get(0).get("id").asString()).isNotEqualTo(calls.get(1).get("id").asString());
    }

    @Test
    void streamedDeltasReassembleToTheWholeResponse() {
        for (String reply : List.of(REPLY, "Just text, <tool_ no call here.", "<tool_call>\n{\"name\": \"add\", "
                + "\"arguments\": {\"a\": 1, \"b\": [\"x\", {\"y\": \"}\"}]}}\n</tool_call>", "<think>cut off")) {
            String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"Go\"}], " + TOOLS;
            JsonNode whole = post(client(new Script(reply)), body + "}").get("choices").get(0);
            for (int run = 0; run < 3; run++) {
                List<JsonNode> chunks = stream(client(new Script(reply)), body + ", \"stream\": true}");
                assertThat(chunks.getFirst().at("/choices/0/delta/role").asString()).isEqualTo("assistant");
                assertThat(withoutIds(reassemble(chunks))).as(reply).isEqualTo(withoutIds(whole.get("message")));
                assertThat(chunks.getLast().at("/choices/0/finish_reason").asString())
                        .isEqualTo(whole.get("finish_reason").asString());
                for (JsonNode chunk : chunks.subList(0, chunks.size() - 1)) {
                    assertThat(chunk.at("/choices/0/finish_reason").isNull()).isTrue();
                }
            }
        }
    }

    @Test
    void parallelToolCallsFalseKeepsTheFirstCallWhenNotEnforced() {
        String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"Go\"}], " + TOOLS
                + ", \"parallel_tool_calls\": false";
        JsonNode message = post(client(new Script(REPLY)), body + "}").at("/choices/0/message");
        assertThat(message.get("tool_calls")).hasSize(1);
        assertThat(message.at("/tool_calls/0/function/name").asString()).isEqualTo("get_weather");
        JsonNode streamed = reassemble(stream(client(new Script(REPLY)), body + ", \"stream\": true}"));
        assertThat(withoutIds(streamed)).isEqualTo(withoutIds(message));
    }

    @Test
    void requiredAndNamedChoicesAskTheEngineForAToolCallGuide() {
        var script = new Script("<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1}}\n</tool_call>");
        String messages = "{\"messages\": [{\"role\": \"user\", \"content\": \"Go\"}], " + TOOLS;
        post(client(script), messages + ", \"tool_choice\": \"required\"}");
        post(client(script), messages + ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"add\"}}}");
        post(client(script), messages + ", \"tool_choice\": \"none\"}");
        GuidedDecodingParams required = script.params.get(0).guidedDecoding();
        assertThat(required.kind()).isEqualTo(GuidedDecodingParams.Kind.STRUCTURAL_TAG);
        assertThat(required.text()).contains("get_weather", "add", "\"stop_after_first\":false");
        GuidedDecodingParams named = script.params.get(1).guidedDecoding();
        assertThat(named.text()).contains("\\\"add\\\"", "\"stop_after_first\":true").doesNotContain("get_weather");
        assertThat(script.params.get(2).guidedDecoding()).isNull();
        // none: the tools are still rendered (the template shows them), but the reply is not read for calls.
        assertThat(script.prompts.get(2)).contains("<tools>");
    }

    @Test
    void toolChoiceNoneLeavesToolCallTextAsContent() {
        JsonNode message = post(client(new Script(REPLY)), "{\"messages\": [{\"role\": \"user\", \"content\": \"Go\"}], "
                + TOOLS + ", \"tool_choice\": \"none\"}").at("/choices/0/message");
        assertThat(message.has("tool_calls")).isFalse();
        assertThat(message.get("content").asString()).contains("<tool_call>");
        assertThat(message.get("reasoning_content").asString()).isEqualTo("The user wants weather and a sum.");
    }

    @Test
    void theHistoryRendersCallsAndToolResultsAndTemplateKwargsReachTheTemplate() {
        var script = new Script("It is sunny.");
        JsonNode response = post(client(script), """
                {"messages": [{"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"}],
                 "chat_template_kwargs": {"enable_thinking": false}, %s}""".formatted(TOOLS));
        String prompt = script.prompts.getFirst();
        assertThat(prompt).contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
                + "</tool_call>", "<tool_response>\nsunny, 21 C\n</tool_response>");
        // Qwen3's template closes an empty think block when thinking is off.
        assertThat(prompt).endsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n");
        assertThat(response.at("/choices/0/message/content").asString()).isEqualTo("It is sunny.");
        assertThat(response.at("/choices/0/finish_reason").asString()).isEqualTo("stop");
    }
}
