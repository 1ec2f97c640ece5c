/**
 * The bottom of the API: values that callers set or read and that the layers below take or produce
 * as they are — build, engine-cache, KV-cache and scheduling settings ({@link io.trtllm.api.config.BuildConfig},
 * {@link io.trtllm.api.config.BuildCacheConfig}, {@link io.trtllm.api.config.KvCacheConfig},
 * {@link io.trtllm.api.config.SchedulerPolicy}, {@link io.trtllm.api.config.Dtype},
 * {@link io.trtllm.api.config.Quantization}), the messages of a chat ({@link io.trtllm.api.config.ChatMessage}),
 * what loading an engine reports ({@link io.trtllm.api.config.EngineLoad}, {@link io.trtllm.api.config.LoadTimes}),
 * and what a guided output must look like ({@link io.trtllm.api.config.GuidedDecodingParams}, compiled far
 * below in {@code io.trtllm.sampling.guided}, which refuses a bad one with a
 * {@link io.trtllm.api.config.GuidedDecodingException} that callers map to a 400).
 *
 * <p>It imports nothing of trtllm's but itself, so every package may use it without a cycle: this is
 * how the engine, the executor and the tokenizer read what a caller configured without importing
 * {@code io.trtllm.api}. An ArchUnit test keeps it so.
 */
@NullMarked
package io.trtllm.api.config;

import org.jspecify.annotations.NullMarked;
