/** Auto-configuration of trtllm: {@code trtllm.*} properties to an {@code LLM} bean and a Spring AI {@code ChatModel}. */
@NullMarked
package io.trtllm.spring.autoconfigure;

import org.jspecify.annotations.NullMarked;
