/**
 * What must load on any JVM Spring Boot runs on, to say clearly when trtllm-java cannot: compiled for
 * Java 17 from {@code src/main/java17}, and referring to nothing of trtllm's compiled for 25.
 */
@NullMarked
package io.trtllm.spring.boot;

import org.jspecify.annotations.NullMarked;
