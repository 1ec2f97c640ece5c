/**
 * Testcontainers support for the trtllm server image: {@link io.trtllm.testcontainers.TrtLlmContainer}.
 */
@NullMarked
package io.trtllm.testcontainers;

import org.jspecify.annotations.NullMarked;
