/** The sample application: chat endpoints on Spring AI's {@code ChatModel}, a chat page, an HTTP load generator. */
@NullMarked
package io.trtllm.sample;

import org.jspecify.annotations.NullMarked;
