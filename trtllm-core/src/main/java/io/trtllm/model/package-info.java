@NullMarked
package io.trtllm.model;

import org.jspecify.annotations.NullMarked;
