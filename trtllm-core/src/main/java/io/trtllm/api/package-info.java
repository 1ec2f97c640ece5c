/**
 * The front door: {@link io.trtllm.api.LLM} (load a model, generate, stream, abort), its arguments
 * ({@link io.trtllm.api.LlmArgs}, {@link io.trtllm.api.SamplingParams}), its outputs
 * ({@link io.trtllm.api.RequestOutput}), what it reports ({@link io.trtllm.api.EngineStats}) and
 * refuses ({@link io.trtllm.api.QueueFullException}, {@link io.trtllm.api.ChatTemplateException}),
 * and its {@link io.trtllm.api.Tokenizer}. With {@code io.trtllm.api.config} it is all a caller
 * needs: the Spring modules use nothing else of trtllm-core (see docs/ARCHITECTURE.md).
 */
@NullMarked
package io.trtllm.api;

import org.jspecify.annotations.NullMarked;
