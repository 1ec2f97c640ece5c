@NullMarked
package io.trtllm.tokenizer;

import org.jspecify.annotations.NullMarked;
