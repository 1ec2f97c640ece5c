/**
 * How the next token is chosen, in one room: a request's settings ({@link io.trtllm.sampling.SamplingConfig},
 * checked by {@link io.trtllm.sampling.SamplingChecks}), a sequence's memory of them
 * ({@link io.trtllm.sampling.SamplingState}), the logits processors, the host's {@link io.trtllm.sampling.Sampler},
 * and what a runner needs to choose a token itself ({@link io.trtllm.sampling.RowNeed},
 * {@link io.trtllm.sampling.TokenSampling}, {@link io.trtllm.sampling.TokenSampler}).
 *
 * <p>It sits below the runtime SPI and the executor and imports neither: a runner draws with its types, the
 * executor maps {@link io.trtllm.sampling.RowNeed} to what it asks of the runner.
 */
@NullMarked
package io.trtllm.sampling;

import org.jspecify.annotations.NullMarked;
