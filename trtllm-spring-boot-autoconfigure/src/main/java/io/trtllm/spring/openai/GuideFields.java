package io.trtllm.spring.openai;

import java.util.List;
import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;

/**
 * The structured-output fields both generation endpoints share: OpenAI's {@code response_format} and
 * vLLM's {@code structured_outputs} and legacy {@code guided_*} fields. At most one guide per request.
 */
interface GuideFields {
    ChatCompletionRequest.@Nullable ResponseFormat responseFormat();

    ChatCompletionRequest.@Nullable StructuredOutputs structuredOutputs();

    @Nullable JsonNode guidedJson();

    @Nullable String guidedRegex();

    @Nullable List<String> guidedChoice();

    @Nullable String guidedGrammar();
}
