/**
 * The API key as a Spring Security filter chain: bearer-token authentication with a constant-time
 * comparison, OpenAI-shaped 401 bodies, and health details only for key holders.
 */
@NullMarked
package io.trtllm.spring.security;

import org.jspecify.annotations.NullMarked;
