package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;

/** POST /api/extract (a record, enforced by guided decoding) and the tool demo on stories15M. */
class StructuredEndpointsIT extends SampleAppTestSupport {

    @Test
    void extractAnswersARecordEvenFromAModelThatWritesStories() {
        String body = web.post().uri("/api/extract").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("text", "Once upon a time there was a happy dog."))
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.mood").value(m -> assertThat(m).isIn("HAPPY", "SAD", "SCARY", "FUNNY"))
                .jsonPath("$.happyEnding").isBoolean()
                .jsonPath("$.characters").isNumber()
                .returnResult().toString();
        assertThat(body).isNotBlank();
    }

    @Test
    void extractWithoutTextIsABadRequest() {
        web.post().uri("/api/extract").contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("text", " "))
                .exchange()
                .expectStatus().isBadRequest();
    }

    @Test
    void theToolDemoOnAModelWithoutToolSupportIsABadRequestNamingWhy() {
        web.post().uri("/api/tools/weather").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("text", "What is the weather in Paris?"))
                .exchange()
                .expectStatus().isBadRequest()
                .expectBody()
                .jsonPath("$.detail").value(d -> assertThat((String) d).contains("tools"));
    }
}
