/**
 * Hugging Face Hub downloads into the standard Hugging Face cache layout ({@code HF_HOME}), so that
 * the Python tools and trtllm share one copy of every file.
 */
@NullMarked
package io.trtllm.model.hub;

import org.jspecify.annotations.NullMarked;
