/**
 * Text in and out of a model: the Hugging Face tokenizer ({@link io.trtllm.tokenizer.Tokenizer},
 * {@code tokenizer.json} through DJL's binding of the Rust library), the chat template of
 * {@code tokenizer_config.json} rendered with Jinjava as Python Jinja2 would render it
 * ({@link io.trtllm.tokenizer.ChatTemplate}), and streaming detokenization that never splits a
 * character ({@link io.trtllm.tokenizer.IncrementalDetokenizer}) nor shows a stop string
 * ({@link io.trtllm.tokenizer.StopStringMatcher}). Callers of the API see it as
 * {@code io.trtllm.api.Tokenizer}.
 */
@NullMarked
package io.trtllm.tokenizer;

import org.jspecify.annotations.NullMarked;
