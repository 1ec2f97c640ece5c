package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Named rules, one of them the root: what every kind of guide is parsed or translated into before
 * {@link GrammarCompiler} turns it into automata. Rules may refer to each other recursively (not on
 * the left: see {@link GrammarCompiler}).
 *
 * @param rules in definition order
 * @param root  the rule the whole output must match
 */
record Grammar(Map<String, Expr> rules, String root) {
    Grammar {
        rules = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(rules));
        if (!rules.containsKey(root)) {
            throw new GuidedDecodingException("the grammar has no rule \"" + root + "\" to start from");
        }
    }

    /** A grammar of one rule. */
    static Grammar of(Expr root) {
        return new Grammar(Map.of("root", root), "root");
    }
}
