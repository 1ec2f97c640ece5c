@NullMarked
package io.trtllm.runtime.cpu;

import org.jspecify.annotations.NullMarked;
