/**
 * Guided decoding: outputs constrained to a JSON Schema, any JSON object, a regular expression, a choice
 * of strings or a GBNF grammar. A guide compiles ({@link io.trtllm.sampling.guided.GuidedDecoding}) to
 * automata over bytes, run as a pushdown automaton whose configurations, and their token masks over the
 * real vocabulary, are computed as reached and shared by all sequences; each sequence advances its own
 * {@link io.trtllm.sampling.guided.GuideMatcher}, which the sampler asks for the mask of the next token.
 * Engine-independent: it knows token bytes, not models. See docs/GUIDED-DECODING.md.
 */
@NullMarked
package io.trtllm.sampling.guided;

import org.jspecify.annotations.NullMarked;
