@NullMarked
package io.trtllm.api;

import org.jspecify.annotations.NullMarked;
