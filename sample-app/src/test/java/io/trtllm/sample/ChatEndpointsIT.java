package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.reactive.function.client.WebClient;

/** POST /api/chat and GET /api/chat/stream on the injected ChatModel. */
class ChatEndpointsIT extends SampleAppTestSupport {
    private static final ParameterizedTypeReference<ServerSentEvent<Map<String, Object>>> EVENT =
            new ParameterizedTypeReference<>() { };

    @Test
    void chatAnswersWithTheChatModelsGreedyReply() {
        String expected = greedyReply(24);

        web.post().uri("/api/chat").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("message", PROMPT, "temperature", 0, "maxTokens", 24))
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.reply").isEqualTo(expected)
                .jsonPath("$.finishReason").isEqualTo("LENGTH")
                .jsonPath("$.model").isEqualTo("stories15M")
                .jsonPath("$.completionTokens").isEqualTo(24);
        assertThat(expected).isNotBlank();
    }

    @Test
    void chatWithoutAMessageIsABadRequest() {
        web.post().uri("/api/chat").contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("message", " "))
                .exchange()
                .expectStatus().isBadRequest();
    }

    @Test
    void streamSendsTheReplyAsOrderedDeltasThenDone() {
        String expected = greedyReply(32);

        List<ServerSentEvent<Map<String, Object>>> events = web.get()
                .uri(u -> u.path("/api/chat/stream").queryParam("message", PROMPT).queryParam("temperature", 0)
                        .queryParam("maxTokens", 32).build())
                .accept(MediaType.TEXT_EVENT_STREAM)
                .exchange()
                .expectStatus().isOk()
                .expectHeader().contentTypeCompatibleWith(MediaType.TEXT_EVENT_STREAM)
                .returnResult(EVENT)
                .getResponseBody()
                .collectList()
                .block(Duration.ofSeconds(60));

        assertThat(events).hasSizeGreaterThan(5);
        List<ServerSentEvent<Map<String, Object>>> deltas = events.subList(0, events.size() - 1);
        assertThat(deltas).allSatisfy(e -> assertThat(e.event()).isNull());
        StringBuilder text = new StringBuilder();
        deltas.forEach(e -> text.append(e.data().get("text")));
        assertThat(text.toString()).isEqualTo(expected); // in order, nothing lost, leading spaces kept
        var done = events.getLast();
        assertThat(done.event()).isEqualTo("done");
        assertThat(done.data()).containsEntry("finishReason", "LENGTH").containsEntry("completionTokens", 32);
    }

    @Test
    void aClientThatLeavesTheStreamAbortsItsEngineRequest() throws InterruptedException {
        double cancelledBefore = cancelledCount();
        WebClient client = WebClient.create("http://localhost:" + port);

        List<ServerSentEvent<Map<String, Object>>> firstEvents = client.get()
                .uri(u -> u.path("/api/chat/stream").queryParam("message", PROMPT).queryParam("maxTokens", 200).build())
                .accept(MediaType.TEXT_EVENT_STREAM)
                .retrieve()
                .bodyToFlux(EVENT)
                .take(3) // then cancel: the connection closes mid-stream
                .collectList()
                .block(Duration.ofSeconds(60));

        assertThat(firstEvents).hasSize(3);
        assertThat(awaitIdle()).as("the engine is idle again, its KV blocks freed").isTrue();
        assertThat(awaitCancelled(cancelledBefore + 1)).as("the request was cancelled, not run to its end").isTrue();
    }
}
