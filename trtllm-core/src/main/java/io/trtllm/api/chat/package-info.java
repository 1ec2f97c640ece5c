/**
 * What a chat model's reply text says, read the way OpenAI's API reports it: reasoning content
 * (Qwen3's {@code <think>...</think>}), content, and tool calls in the formats of the models we serve
 * (Hermes/Qwen {@code <tool_call>}, Llama 3.1/3.2 JSON, Mistral {@code [TOOL_CALLS]}). Each parser reads a
 * complete reply ({@link io.trtllm.api.chat.ReplyParser#parse}) or a stream of text deltas
 * ({@link io.trtllm.api.chat.ReplyParser#stream}), whose OpenAI-style deltas reassemble to exactly the
 * complete reply's result. Text level only: no tokens, no model.
 */
@NullMarked
package io.trtllm.api.chat;

import org.jspecify.annotations.NullMarked;
