package io.trtllm.testcontainers.service.connection;

import org.jspecify.annotations.Nullable;
import org.springframework.boot.autoconfigure.service.connection.ConnectionDetails;

/**
 * Where a trtllm server's OpenAI-compatible API is and how to call it. With Spring AI's OpenAI client on the
 * class path these details win over {@code spring.ai.openai.base-url} and {@code spring.ai.openai.api-key}
 * (and their {@code spring.ai.openai.chat.*} forms), and give the chat model's {@code model} when none is set:
 * see {@link TrtLlmOpenAiConnectionAutoConfiguration}.
 */
public interface TrtLlmConnectionDetails extends ConnectionDetails {

    /** Base URL of the OpenAI-compatible API, e.g. {@code http://localhost:32771/v1}. */
    String getBaseUrl();

    /** The bearer token the server requires, or null when its API is open. */
    @Nullable String getApiKey();

    /** The model id the server serves (what requests name). */
    String getModel();
}
