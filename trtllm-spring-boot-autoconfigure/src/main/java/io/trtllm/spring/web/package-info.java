/**
 * The HTTP surface shared by the OpenAI API and an application's own generating endpoints: what a
 * request must look like before it may start generation (JSON bodies, no cross-site requests), and
 * error messages fit for clients.
 */
@NullMarked
package io.trtllm.spring.web;

import org.jspecify.annotations.NullMarked;
