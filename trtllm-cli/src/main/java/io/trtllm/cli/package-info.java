@NullMarked
package io.trtllm.cli;

import org.jspecify.annotations.NullMarked;
