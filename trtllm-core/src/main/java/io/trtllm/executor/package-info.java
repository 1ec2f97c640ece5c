@NullMarked
package io.trtllm.executor;

import org.jspecify.annotations.NullMarked;
