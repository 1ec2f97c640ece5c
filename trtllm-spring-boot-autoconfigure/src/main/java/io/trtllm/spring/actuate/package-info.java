/** Actuator support: a health indicator for the engine and Micrometer meters of its requests. */
@NullMarked
package io.trtllm.spring.actuate;

import org.jspecify.annotations.NullMarked;
