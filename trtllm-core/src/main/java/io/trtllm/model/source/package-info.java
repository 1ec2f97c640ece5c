/**
 * Where a model comes from ({@link io.trtllm.model.source.ModelSource}: a builtin name, a local
 * Hugging Face directory, a prebuilt engine, a Hub id), resolved to a directory to load. It sits
 * above {@code model.builtin} and {@code model.hub}, which it dispatches to, so that {@code model}
 * itself depends on neither.
 */
@NullMarked
package io.trtllm.model.source;

import org.jspecify.annotations.NullMarked;
