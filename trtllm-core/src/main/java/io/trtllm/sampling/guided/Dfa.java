package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingException;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;

/**
 * A deterministic automaton over bytes and, in grammar rules, calls of other rules. Bytes come in
 * classes (bytes every transition treats alike share one: {@link #classOf}); the symbols are the
 * classes, then one per called rule ({@link #callIds}, the global index of each). State 0 is the
 * start; {@link #next} has {@code states × symbols} entries, -1 where there is no transition.
 * Immutable once built; every {@code Dfa} a public method returns is trimmed (each state reachable
 * and able to reach acceptance, but for the start state of the empty language) and minimal.
 */
final class Dfa {
    final int states;
    final byte[] classOf;
    final int classes;
    final int[] callIds;
    final int[] next;
    final boolean[] accept;

    Dfa(int states, byte[] classOf, int classes, int[] callIds, int[] next, boolean[] accept) {
        this.states = states;
        this.classOf = classOf;
        this.classes = classes;
        this.callIds = callIds;
        this.next = next;
        this.accept = accept;
    }

    int symbols() {
        return classes + callIds.length;
    }

    /** The language with no string. */
    static Dfa empty() {
        return new Dfa(1, new byte[256], 1, new int[0], new int[] {-1}, new boolean[] {false});
    }

    boolean isEmpty() {
        return states == 1 && !accept[0] && allNone();
    }

    private boolean allNone() {
        for (int t : next) {
            if (t >= 0) {
                return false;
            }
        }
        return true;
    }

    /** Whether the automaton (without calls) accepts exactly {@code input}. */
    boolean matches(byte[] input) {
        int s = 0;
        for (byte b : input) {
            s = next[s * symbols() + (classOf[b & 0xFF] & 0xFF)];
            if (s < 0) {
                return false;
            }
        }
        return accept[s];
    }

    /** The strings of this language that {@code other} also accepts. Neither may have calls. */
    Dfa intersect(Dfa other) {
        return product(this, other, false);
    }

    /** The strings of this language that {@code other} does not accept. Neither may have calls. */
    Dfa minus(Dfa other) {
        return product(this, other, true);
    }

    private static Dfa product(Dfa a, Dfa b, boolean andNot) {
        if (a.callIds.length > 0 || b.callIds.length > 0) {
            throw new IllegalArgumentException("products of automata with calls");
        }
        // Joint byte classes: pairs of the two automata's classes.
        Map<Integer, Integer> joint = new HashMap<>();
        byte[] classOf = new byte[256];
        int[] aClass = new int[256];
        int[] bClass = new int[256];
        for (int x = 0; x < 256; x++) {
            int key = (a.classOf[x] & 0xFF) << 8 | (b.classOf[x] & 0xFF);
            Integer c = joint.get(key);
            if (c == null) {
                c = joint.size();
                joint.put(key, c);
                aClass[c] = a.classOf[x] & 0xFF;
                bClass[c] = b.classOf[x] & 0xFF;
            }
            classOf[x] = (byte) (int) c;
        }
        int classes = joint.size();
        // Breadth-first over pairs (state of a, state of b or -1 for b's dead state).
        Map<Long, Integer> index = new HashMap<>();
        IntList pairs = new IntList();
        IntList next = new IntList();
        Deque<Integer> todo = new ArrayDeque<>();
        index.put(pair(0, 0), 0);
        pairs.add(0);
        pairs.add(0);
        todo.add(0);
        while (!todo.isEmpty()) {
            int p = todo.poll();
            int sa = pairs.get(2 * p);
            int sb = pairs.get(2 * p + 1);
            for (int c = 0; c < classes; c++) {
                int ta = a.next[sa * a.symbols() + aClass[c]];
                int tb = sb < 0 ? -1 : b.next[sb * b.symbols() + bClass[c]];
                int target = -1;
                if (ta >= 0 && (tb >= 0 || andNot)) {
                    long key = pair(ta, tb);
                    Integer t = index.get(key);
                    if (t == null) {
                        t = index.size();
                        index.put(key, t);
                        pairs.add(ta);
                        pairs.add(tb);
                        todo.add(t);
                    }
                    target = t;
                }
                next.set(p * classes + c, target);
            }
        }
        int n = index.size();
        boolean[] accept = new boolean[n];
        for (int p = 0; p < n; p++) {
            int sa = pairs.get(2 * p);
            int sb = pairs.get(2 * p + 1);
            boolean inB = sb >= 0 && b.accept[sb];
            accept[p] = a.accept[sa] && (andNot ? !inB : inB);
        }
        return minimal(n, classOf, classes, new int[0], next.toArray(n * classes), accept, Integer.MAX_VALUE);
    }

    private static long pair(int a, int b) {
        return (long) a << 32 | (b & 0xFFFFFFFFL);
    }

    /**
     * Trims and minimizes an automaton given as tables (state 0 the start): removes states that are not
     * reachable or cannot reach acceptance, then merges equivalent states (Hopcroft's algorithm on a
     * refinable partition, after Valmari). Call symbols are letters like the byte classes.
     */
    static Dfa minimal(int n, byte[] classOf, int classes, int[] callIds, int[] next, boolean[] accept, int budget) {
        int symbols = classes + callIds.length;
        // Trim: forward from 0, backward from the accepting states.
        boolean[] reach = new boolean[n];
        int[] stack = new int[n];
        int sp = 0;
        reach[0] = true;
        stack[sp++] = 0;
        while (sp > 0) {
            int s = stack[--sp];
            for (int a = 0; a < symbols; a++) {
                int t = next[s * symbols + a];
                if (t >= 0 && !reach[t]) {
                    reach[t] = true;
                    stack[sp++] = t;
                }
            }
        }
        int[] predCount = new int[n + 1];
        for (int s = 0; s < n; s++) {
            for (int a = 0; a < symbols; a++) {
                int t = next[s * symbols + a];
                if (t >= 0) {
                    predCount[t + 1]++;
                }
            }
        }
        for (int s = 0; s < n; s++) {
            predCount[s + 1] += predCount[s];
        }
        int[] preds = new int[predCount[n]];
        int[] fill = Arrays.copyOf(predCount, n);
        for (int s = 0; s < n; s++) {
            for (int a = 0; a < symbols; a++) {
                int t = next[s * symbols + a];
                if (t >= 0) {
                    preds[fill[t]++] = s;
                }
            }
        }
        boolean[] live = new boolean[n];
        for (int s = 0; s < n; s++) {
            if (accept[s] && reach[s]) {
                live[s] = true;
                stack[sp++] = s;
            }
        }
        while (sp > 0) {
            int s = stack[--sp];
            for (int i = predCount[s]; i < predCount[s + 1]; i++) {
                int p = preds[i];
                if (reach[p] && !live[p]) {
                    live[p] = true;
                    stack[sp++] = p;
                }
            }
        }
        if (!live[0]) {
            return new Dfa(1, classOf, classes, callIds, filled(symbols), new boolean[] {false});
        }
        // Kept states renumbered 0..m-1 (start first); state m is a sink making the automaton total.
        int[] renumber = new int[n];
        int m = 0;
        for (int s = 0; s < n; s++) {
            renumber[s] = live[s] ? m++ : -1;
        }
        if (m > budget) {
            throw new GuidedDecodingException("the guide is too large to compile: an automaton of more than "
                    + budget + " states");
        }
        int total = m + 1;
        int sink = m;
        int[] delta = new int[total * symbols];
        boolean[] acc = new boolean[total];
        for (int s = 0; s < n; s++) {
            if (!live[s]) {
                continue;
            }
            int r = renumber[s];
            acc[r] = accept[s];
            for (int a = 0; a < symbols; a++) {
                int t = next[s * symbols + a];
                delta[r * symbols + a] = t >= 0 && live[t] ? renumber[t] : sink;
            }
        }
        Arrays.fill(delta, sink * symbols, total * symbols, sink);
        int[] block = hopcroft(total, symbols, delta, acc);
        // Blocks → states: the start's block first, the sink's block dropped.
        int[] stateOf = new int[total];
        Arrays.fill(stateOf, -1);
        int count = 0;
        int sinkBlock = block[sink];
        int[] order = new int[total];
        int[] blockState = new int[total];
        Arrays.fill(blockState, -1);
        blockState[block[0]] = count++;
        for (int s = 0; s < m; s++) {
            if (blockState[block[s]] < 0 && block[s] != sinkBlock) {
                blockState[block[s]] = count++;
            }
        }
        int[] out = filled(count * symbols);
        boolean[] outAccept = new boolean[count];
        for (int s = 0; s < m; s++) {
            int q = blockState[block[s]];
            if (q < 0) {
                continue;
            }
            outAccept[q] = acc[s];
            for (int a = 0; a < symbols; a++) {
                int t = delta[s * symbols + a];
                out[q * symbols + a] = t == sink || block[t] == sinkBlock ? -1 : blockState[block[t]];
            }
        }
        return new Dfa(count, classOf, classes, callIds, out, outAccept);
    }

    private static int[] filled(int n) {
        int[] a = new int[n];
        Arrays.fill(a, -1);
        return a;
    }

    /**
     * Hopcroft's minimization of a total DFA: the coarsest partition of the states compatible with
     * acceptance and transitions. Returns the block of each state.
     */
    private static int[] hopcroft(int n, int symbols, int[] delta, boolean[] accept) {
        // Inverse transitions per (symbol, target): CSR.
        int[] invStart = new int[symbols * n + 1];
        for (int s = 0; s < n; s++) {
            for (int a = 0; a < symbols; a++) {
                invStart[a * n + delta[s * symbols + a] + 1]++;
            }
        }
        for (int i = 0; i < symbols * n; i++) {
            invStart[i + 1] += invStart[i];
        }
        int[] inv = new int[n * symbols];
        int[] fill = Arrays.copyOf(invStart, symbols * n);
        for (int s = 0; s < n; s++) {
            for (int a = 0; a < symbols; a++) {
                inv[fill[a * n + delta[s * symbols + a]]++] = s;
            }
        }
        // Refinable partition: elems holds each block's states contiguously; [first, mid) are marked.
        int[] elems = new int[n];
        int[] loc = new int[n];
        int[] blockOf = new int[n];
        int[] first = new int[n];
        int[] end = new int[n];
        int[] mid = new int[n];
        int blocks = 0;
        int k = 0;
        for (int pass = 0; pass < 2; pass++) {
            int start = k;
            for (int s = 0; s < n; s++) {
                if (accept[s] == (pass == 0)) {
                    elems[k] = s;
                    loc[s] = k++;
                    blockOf[s] = blocks;
                }
            }
            if (k > start) {
                first[blocks] = start;
                mid[blocks] = start;
                end[blocks] = k;
                blocks++;
            }
        }
        // Worklist of splitters (block, symbol).
        IntList work = new IntList();
        int smaller = blocks == 2 && end[1] - first[1] < end[0] - first[0] ? 1 : 0;
        for (int a = 0; a < symbols; a++) {
            work.add(smaller * symbols + a);
        }
        int[] splitter = new int[n];
        int[] touched = new int[n];
        while (work.size() > 0) {
            int item = work.pop();
            int b = item / symbols;
            int a = item % symbols;
            int size = end[b] - first[b];
            System.arraycopy(elems, first[b], splitter, 0, size);
            int touchedCount = 0;
            for (int i = 0; i < size; i++) {
                int q = splitter[i];
                for (int j = invStart[a * n + q]; j < invStart[a * n + q + 1]; j++) {
                    int p = inv[j];
                    int pb = blockOf[p];
                    int at = loc[p];
                    if (at >= mid[pb]) { // not yet marked: swap into the marked prefix
                        if (mid[pb] == first[pb]) {
                            touched[touchedCount++] = pb;
                        }
                        int other = elems[mid[pb]];
                        elems[at] = other;
                        loc[other] = at;
                        elems[mid[pb]] = p;
                        loc[p] = mid[pb];
                        mid[pb]++;
                    }
                }
            }
            for (int t = 0; t < touchedCount; t++) {
                int y = touched[t];
                if (mid[y] == end[y]) { // every state marked: no split
                    mid[y] = first[y];
                    continue;
                }
                // Split: the smaller part becomes a new block.
                int z = blocks++;
                if (mid[y] - first[y] <= end[y] - mid[y]) {
                    first[z] = first[y];
                    end[z] = mid[y];
                    first[y] = mid[y];
                } else {
                    first[z] = mid[y];
                    end[z] = end[y];
                    end[y] = mid[y];
                }
                mid[y] = first[y];
                mid[z] = first[z];
                for (int i = first[z]; i < end[z]; i++) {
                    blockOf[elems[i]] = z;
                }
                for (int c = 0; c < symbols; c++) {
                    // Whether (y, c) waits or not, adding (z, c) suffices: z is the smaller half.
                    work.add(z * symbols + c);
                }
            }
        }
        return blockOf;
    }

    /** A growable int array. */
    static final class IntList {
        private int[] a = new int[16];
        private int size;

        void add(int v) {
            if (size == a.length) {
                a = Arrays.copyOf(a, size * 2);
            }
            a[size++] = v;
        }

        void set(int i, int v) {
            while (i >= a.length) {
                a = Arrays.copyOf(a, a.length * 2);
            }
            a[i] = v;
            size = Math.max(size, i + 1);
        }

        int get(int i) {
            return a[i];
        }

        int pop() {
            return a[--size];
        }

        int size() {
            return size;
        }

        void clear() {
            size = 0;
        }

        int[] toArray(int length) {
            return Arrays.copyOf(a, length);
        }
    }
}
