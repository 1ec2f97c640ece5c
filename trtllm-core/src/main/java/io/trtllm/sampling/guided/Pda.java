package io.trtllm.sampling.guided;

/**
 * A compiled grammar: one deterministic automaton per rule that stays a rule (the root and the rules
 * that break cycles of references; every other rule was inlined), over byte classes and calls of rules.
 * Read by {@link ConfigSpace}, which runs it as a pushdown automaton. Immutable.
 *
 * <p>Every state of every rule can reach an accepting state of its rule (dead states and calls of
 * rules that match nothing were removed), and {@link #need} says how deep a stack that takes.
 */
final class Pda {
    /** Byte classes: bytes that every automaton of the grammar treats alike share a class. */
    final int classes;
    /** Class of each byte (index: byte & 0xFF). */
    final byte[] classOf;
    final String[] ruleNames;
    final int root;
    /** Per rule: the start state. */
    final int[] start;
    /** Per rule: {@code next[state * classes + class]}, the state after a byte of the class, or -1. */
    final int[][] next;
    final boolean[][] accept;
    /** Per rule and state: whether any byte leads on. */
    final boolean[][] readsBytes;
    /** Per rule and state: pairs (called rule, state after the call), flattened; empty when none. */
    final int[][][] calls;
    /**
     * Per rule and state: the fewest frames (this one included) the stack must be able to hold above
     * this frame's parent to finish the rule from there — 1 without calls, 1 + a callee's need with.
     * A frame is admitted only where its depth leaves that much room under the nesting limit, so that
     * no configuration is alive that cannot be completed within the limit.
     */
    final int[][] need;

    Pda(int classes, byte[] classOf, String[] ruleNames, int root, int[] start, int[][] next, boolean[][] accept,
        boolean[][] readsBytes, int[][][] calls) {
        this.classes = classes;
        this.classOf = classOf;
        this.ruleNames = ruleNames;
        this.root = root;
        this.start = start;
        this.next = next;
        this.accept = accept;
        this.readsBytes = readsBytes;
        this.calls = calls;
        this.need = needs();
    }

    /** {@link #need}: a fixed point, from the accepting states backwards (values only shrink). */
    private int[][] needs() {
        int n = ruleNames.length;
        int[][] need = new int[n][];
        for (int r = 0; r < n; r++) {
            need[r] = new int[accept[r].length];
            java.util.Arrays.fill(need[r], Integer.MAX_VALUE);
            for (int s = 0; s < accept[r].length; s++) {
                if (accept[r][s]) {
                    need[r][s] = 1;
                }
            }
        }
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int r = 0; r < n; r++) {
                for (int s = accept[r].length - 1; s >= 0; s--) {
                    int best = need[r][s];
                    for (int c = 0; c < classes; c++) {
                        int t = next[r][s * classes + c];
                        if (t >= 0) {
                            best = Math.min(best, need[r][t]);
                        }
                    }
                    int[] pairs = calls[r][s];
                    for (int i = 0; i < pairs.length; i += 2) {
                        int callee = need[pairs[i]][start[pairs[i]]];
                        int after = need[r][pairs[i + 1]];
                        if (callee != Integer.MAX_VALUE && after != Integer.MAX_VALUE) {
                            best = Math.min(best, Math.max(callee + 1, after));
                        }
                    }
                    if (best < need[r][s]) {
                        need[r][s] = best;
                        changed = true;
                    }
                }
            }
        }
        return need;
    }

    int classOf(byte b) {
        return classOf[b & 0xFF] & 0xFF;
    }

    /** Whether the grammar is regular: the root calls no rule, so a configuration is one state. */
    boolean isRegular() {
        return ruleNames.length == 1;
    }

    int stateCount() {
        int n = 0;
        for (boolean[] a : accept) {
            n += a.length;
        }
        return n;
    }
}
