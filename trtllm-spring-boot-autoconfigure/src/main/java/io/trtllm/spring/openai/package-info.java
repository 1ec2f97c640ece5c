/**
 * An OpenAI-compatible HTTP API (chat completions, completions, models) on an in-process trtllm
 * {@code LLM}, for WebFlux applications.
 */
@NullMarked
package io.trtllm.spring.openai;

import org.jspecify.annotations.NullMarked;
