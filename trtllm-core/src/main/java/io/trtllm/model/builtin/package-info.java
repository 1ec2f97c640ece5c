@NullMarked
package io.trtllm.model.builtin;

import org.jspecify.annotations.NullMarked;
