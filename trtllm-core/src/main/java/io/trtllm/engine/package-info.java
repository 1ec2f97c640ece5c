/**
 * Engine build and engine cache: {@link io.trtllm.engine.EngineBuilder} turns a Hugging Face
 * checkpoint into an engine directory (weights in the requested dtype and layout, the build and
 * model configuration, a checksum manifest); {@link io.trtllm.engine.EngineCache} keys engines by
 * what they were built from and for, publishes them atomically, verifies them on load, evicts the
 * least recently used, and shares loaded engines between {@code LLM}s of one process.
 * {@link io.trtllm.engine.EngineLoader} turns an {@code LLM}'s arguments into a model ready to serve
 * (model resolved, engine acquired, tokenizer loaded) and {@link io.trtllm.engine.Runners} opens the
 * backend's runner over the engine: the only package above the backends that names them.
 */
@NullMarked
package io.trtllm.engine;

import org.jspecify.annotations.NullMarked;
