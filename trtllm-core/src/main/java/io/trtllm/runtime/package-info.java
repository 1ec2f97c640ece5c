@NullMarked
package io.trtllm.runtime;

import org.jspecify.annotations.NullMarked;
