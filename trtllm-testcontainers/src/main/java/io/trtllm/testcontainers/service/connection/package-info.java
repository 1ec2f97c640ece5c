/**
 * Spring Boot service connections to a trtllm server: {@code @ServiceConnection} on a
 * {@link io.trtllm.testcontainers.TrtLlmContainer} gives a {@link
 * io.trtllm.testcontainers.service.connection.TrtLlmConnectionDetails} bean, which Spring AI's OpenAI client
 * configuration then uses.
 */
@NullMarked
package io.trtllm.testcontainers.service.connection;

import org.jspecify.annotations.NullMarked;
