/** Spring AI chat model on an in-process trtllm {@code LLM}: options, request mapping, observations. */
@NullMarked
package io.trtllm.spring.chat;

import org.jspecify.annotations.NullMarked;
