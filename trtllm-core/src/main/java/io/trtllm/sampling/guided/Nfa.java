package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A nondeterministic automaton under construction (Thompson's construction: fragments joined by
 * empty moves), over byte sets and rule calls, turned into a minimal {@link Dfa} by the subset
 * construction and {@link Dfa#minimal}.
 */
final class Nfa {
    private static final int EPSILON = -1;

    /** Per edge: source, target, label (EPSILON, a byte-set index, or -2 - call id). */
    private final Dfa.IntList from = new Dfa.IntList();
    private final Dfa.IntList to = new Dfa.IntList();
    private final Dfa.IntList label = new Dfa.IntList();
    private final List<long[]> byteSets = new ArrayList<>();
    private final Map<Mask, Integer> byteSetIndex = new HashMap<>();
    private int states;
    private final int budget;

    private record Mask(long[] bits) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Mask m && Arrays.equals(bits, m.bits);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(bits);
        }
    }

    Nfa(int budget) {
        this.budget = budget;
    }

    int newState() {
        if (++states > budget) {
            throw new GuidedDecodingException("the guide is too large to compile: more than " + budget
                    + " automaton states");
        }
        return states - 1;
    }

    int stateCount() {
        return states;
    }

    void epsilon(int a, int b) {
        edge(a, b, EPSILON);
    }

    /** An edge on any byte of {@code bits} (256 bits). */
    void bytes(int a, int b, long[] bits) {
        Mask m = new Mask(bits);
        Integer i = byteSetIndex.get(m);
        if (i == null) {
            i = byteSets.size();
            byteSets.add(bits);
            byteSetIndex.put(m, i);
        }
        edge(a, b, i);
    }

    void byteRange(int a, int b, int lo, int hi) {
        long[] bits = new long[4];
        for (int x = lo; x <= hi; x++) {
            bits[x >>> 6] |= 1L << x;
        }
        bytes(a, b, bits);
    }

    void call(int a, int b, int callId) {
        edge(a, b, -2 - callId);
    }

    private void edge(int a, int b, int l) {
        from.add(a);
        to.add(b);
        label.add(l);
    }

    /** Copies {@code d} in: returns {entry, exit}, the exit reached by an empty move from each accepting state. */
    int[] embed(Dfa d) {
        int base = states;
        for (int s = 0; s < d.states; s++) {
            newState();
        }
        int exit = newState();
        long[][] classBits = new long[d.classes][4];
        for (int x = 0; x < 256; x++) {
            int c = d.classOf[x] & 0xFF;
            classBits[c][x >>> 6] |= 1L << x;
        }
        int symbols = d.symbols();
        for (int s = 0; s < d.states; s++) {
            for (int c = 0; c < d.classes; c++) {
                int t = d.next[s * symbols + c];
                if (t >= 0) {
                    bytes(base + s, base + t, classBits[c]);
                }
            }
            for (int k = 0; k < d.callIds.length; k++) {
                int t = d.next[s * symbols + d.classes + k];
                if (t >= 0) {
                    call(base + s, base + t, d.callIds[k]);
                }
            }
            if (d.accept[s]) {
                epsilon(base + s, exit);
            }
        }
        return new int[] {base, exit};
    }

    /** The minimal DFA of the strings that lead from {@code start} to {@code end}. */
    Dfa determinize(int start, int end, int budget) {
        int n = states;
        int edges = from.size();
        // Byte classes: bytes that every byte set of the automaton treats alike.
        byte[] classOf = new byte[256];
        int classes = 1;
        for (long[] set : byteSets) {
            int[] split = new int[classes * 2];
            Arrays.fill(split, -1);
            int next = 0;
            byte[] refined = new byte[256];
            for (int x = 0; x < 256; x++) {
                int key = (classOf[x] & 0xFF) * 2 + ((set[x >>> 6] >>> x & 1) == 1 ? 1 : 0);
                if (split[key] < 0) {
                    split[key] = next++;
                }
                refined[x] = (byte) split[key];
            }
            if (next > 256) {
                throw new IllegalStateException("more than 256 byte classes");
            }
            classOf = refined;
            classes = next;
        }
        // Call symbols present.
        Map<Integer, Integer> callSymbol = new HashMap<>();
        Dfa.IntList callIds = new Dfa.IntList();
        for (int e = 0; e < edges; e++) {
            int l = label.get(e);
            if (l <= -2 && !callSymbol.containsKey(-2 - l)) {
                callSymbol.put(-2 - l, classes + callIds.size());
                callIds.add(-2 - l);
            }
        }
        int symbols = classes + callIds.size();
        // Per byte set: its classes.
        int[][] setClasses = new int[byteSets.size()][];
        for (int i = 0; i < byteSets.size(); i++) {
            long[] set = byteSets.get(i);
            boolean[] in = new boolean[classes];
            for (int x = 0; x < 256; x++) {
                if ((set[x >>> 6] >>> x & 1) == 1) {
                    in[classOf[x] & 0xFF] = true;
                }
            }
            Dfa.IntList list = new Dfa.IntList();
            for (int c = 0; c < classes; c++) {
                if (in[c]) {
                    list.add(c);
                }
            }
            setClasses[i] = list.toArray(list.size());
        }
        // Adjacency (CSR) by source.
        int[] outStart = new int[n + 1];
        for (int e = 0; e < edges; e++) {
            outStart[from.get(e) + 1]++;
        }
        for (int s = 0; s < n; s++) {
            outStart[s + 1] += outStart[s];
        }
        int[] outEdge = new int[edges];
        int[] fill = Arrays.copyOf(outStart, n);
        for (int e = 0; e < edges; e++) {
            outEdge[fill[from.get(e)]++] = e;
        }
        // Subset construction.
        Map<Subset, Integer> index = new HashMap<>();
        List<int[]> subsets = new ArrayList<>();
        int[] stamp = new int[n];
        int[] stack = new int[n];
        int[] mark = {0};
        Dfa.IntList[] buckets = new Dfa.IntList[symbols];
        for (int a = 0; a < symbols; a++) {
            buckets[a] = new Dfa.IntList();
        }
        int[] startSet = closure(new int[] {start}, 1, outStart, outEdge, stamp, stack, mark);
        index.put(new Subset(startSet), 0);
        subsets.add(startSet);
        Dfa.IntList next = new Dfa.IntList();
        for (int d = 0; d < subsets.size(); d++) {
            int[] set = subsets.get(d);
            for (int a = 0; a < symbols; a++) {
                buckets[a].clear();
            }
            for (int s : set) {
                for (int i = outStart[s]; i < outStart[s + 1]; i++) {
                    int e = outEdge[i];
                    int l = label.get(e);
                    if (l == EPSILON) {
                        continue;
                    }
                    int t = to.get(e);
                    if (l >= 0) {
                        for (int c : setClasses[l]) {
                            buckets[c].add(t);
                        }
                    } else {
                        buckets[callSymbol.get(-2 - l)].add(t);
                    }
                }
            }
            // Symbols that lead to the same NFA states (most bytes, inside a string) share one closure.
            Map<Subset, Integer> sameTargets = new HashMap<>();
            for (int a = 0; a < symbols; a++) {
                int target = -1;
                int size = buckets[a].size();
                if (size > 0) {
                    int[] seeds = buckets[a].toArray(size);
                    Arrays.sort(seeds);
                    Subset seedKey = new Subset(seeds);
                    Integer t = sameTargets.get(seedKey);
                    if (t == null) {
                        int[] closed = closure(seeds, size, outStart, outEdge, stamp, stack, mark);
                        Subset key = new Subset(closed);
                        t = index.get(key);
                        if (t == null) {
                            t = subsets.size();
                            if (t >= budget) {
                                throw new GuidedDecodingException("the guide is too large to compile: more than " + budget
                                        + " automaton states");
                            }
                            index.put(key, t);
                            subsets.add(closed);
                        }
                        sameTargets.put(seedKey, t);
                    }
                    target = t;
                }
                next.set(d * symbols + a, target);
            }
        }
        int count = subsets.size();
        boolean[] accept = new boolean[count];
        for (int d = 0; d < count; d++) {
            for (int s : subsets.get(d)) {
                if (s == end) {
                    accept[d] = true;
                    break;
                }
            }
        }
        return Dfa.minimal(count, classOf, classes, callIds.toArray(callIds.size()), next.toArray(count * symbols), accept,
                budget);
    }

    /** The sorted set of states reachable from {@code seeds} by empty moves. */
    private int[] closure(int[] seeds, int count, int[] outStart, int[] outEdge, int[] stamp, int[] stack, int[] mark) {
        int m = ++mark[0];
        int sp = 0;
        Dfa.IntList out = new Dfa.IntList();
        for (int i = 0; i < count; i++) {
            int s = seeds[i];
            if (stamp[s] != m) {
                stamp[s] = m;
                stack[sp++] = s;
            }
        }
        while (sp > 0) {
            int s = stack[--sp];
            out.add(s);
            for (int i = outStart[s]; i < outStart[s + 1]; i++) {
                int e = outEdge[i];
                if (label.get(e) == EPSILON) {
                    int t = to.get(e);
                    if (stamp[t] != m) {
                        stamp[t] = m;
                        stack[sp++] = t;
                    }
                }
            }
        }
        int[] a = out.toArray(out.size());
        Arrays.sort(a);
        return a;
    }

    private record Subset(int[] states) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Subset s && Arrays.equals(states, s.states);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(states);
        }
    }
}
