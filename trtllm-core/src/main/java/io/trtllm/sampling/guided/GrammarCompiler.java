package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compiles a {@link Grammar} into a {@link Pda}:
 *
 * <ol>
 *   <li>checks that every referenced rule exists, and keeps the rules the root reaches;</li>
 *   <li>keeps as rules the root and a set of rules that breaks every cycle of references (found with
 *       Tarjan's strongly connected components); every other rule is inlined;</li>
 *   <li>builds each rule's minimal DFA, callees first: a reference to an inlined rule is a copy of its
 *       automaton, one to a kept rule a call letter;</li>
 *   <li>refuses left recursion (a rule that can call itself before reading a byte): the pushdown
 *       automaton would push forever, as llama.cpp's grammar engine, which refuses it too;</li>
 *   <li>removes calls of rules that match nothing and states that cannot reach acceptance, and
 *       refuses a grammar whose root matches nothing;</li>
 *   <li>partitions the bytes into classes and tabulates the transitions.</li>
 * </ol>
 */
final class GrammarCompiler {
    private GrammarCompiler() {
    }

    static Pda compile(Grammar grammar) {
        Map<String, List<String>> refs = new LinkedHashMap<>();
        collectReachable(grammar, refs);
        Set<String> kept = cycleBreakers(refs, grammar.root());
        // Rules that stay rules get call letters: the root first, then the cycle breakers.
        List<String> runtime = new ArrayList<>();
        runtime.add(grammar.root());
        for (String r : refs.keySet()) {
            if (kept.contains(r) && !r.equals(grammar.root())) {
                runtime.add(r);
            }
        }
        Map<String, Integer> callIndex = new HashMap<>();
        for (int i = 0; i < runtime.size(); i++) {
            callIndex.put(runtime.get(i), i);
        }
        // Without the references to kept rules the graph is acyclic: build callees first.
        Map<String, List<String>> inlined = new LinkedHashMap<>();
        refs.forEach((rule, callees) -> inlined.put(rule, callees.stream().filter(c -> !kept.contains(c)).toList()));
        Map<String, Dfa> built = new HashMap<>();
        Automata automata = new Automata(name -> {
            if (kept.contains(name)) {
                return callIndex.get(name);
            }
            Dfa d = built.get(name);
            if (d == null) {
                throw new IllegalStateException("rule " + name + " used before it was built");
            }
            return d;
        });
        int states = 0;
        for (List<String> scc : stronglyConnected(inlined)) { // one rule each, callees first
            for (String rule : scc) {
                Dfa d = automata.build(grammar.rules().get(rule));
                built.put(rule, d);
                if (kept.contains(rule)) {
                    states += d.states;
                    if (states > Automata.MAX_STATES) {
                        throw new GuidedDecodingException("the guide is too large to compile: its automata would have "
                                + "more than " + Automata.MAX_STATES + " states");
                    }
                }
            }
        }
        List<Dfa> dfas = new ArrayList<>();
        for (String r : runtime) {
            dfas.add(built.get(r));
        }
        return tabulate(runtime, dfas);
    }

    /**
     * The rules that stay rules: the root, and enough others that every cycle of references passes
     * through one (a feedback vertex set, chosen greedily: a rule that refers to itself, else the one
     * with most references in and out within its component). Every other rule is inlined, so a cycle
     * of three rules costs one frame per turn, not three.
     */
    static Set<String> cycleBreakers(Map<String, List<String>> refs, String root) {
        Set<String> kept = new HashSet<>(List.of(root));
        while (true) {
            Map<String, List<String>> graph = new LinkedHashMap<>();
            refs.forEach((rule, callees) -> graph.put(rule, callees.stream().filter(c -> !kept.contains(c)).toList()));
            boolean cyclic = false;
            for (List<String> scc : stronglyConnected(graph)) {
                String only = scc.getFirst();
                if (scc.size() == 1 && !graph.get(only).contains(only)) {
                    continue;
                }
                cyclic = true;
                Set<String> members = new HashSet<>(scc);
                String best = null;
                long bestScore = -1;
                for (String v : scc) {
                    long out = graph.get(v).stream().filter(members::contains).count();
                    long in = scc.stream().filter(u -> graph.get(u).contains(v)).count();
                    long score = graph.get(v).contains(v) ? Long.MAX_VALUE : in * out;
                    if (score > bestScore) {
                        best = v;
                        bestScore = score;
                    }
                }
                kept.add(best);
            }
            if (!cyclic) {
                return kept;
            }
        }
    }

    private static void collectReachable(Grammar grammar, Map<String, List<String>> refs) {
        Deque<String> todo = new ArrayDeque<>(List.of(grammar.root()));
        while (!todo.isEmpty()) {
            String rule = todo.pop();
            if (refs.containsKey(rule)) {
                continue;
            }
            List<String> out = new ArrayList<>();
            collectRefs(grammar.rules().get(rule), out);
            for (String callee : out) {
                if (!grammar.rules().containsKey(callee)) {
                    throw new GuidedDecodingException("rule \"" + rule + "\" refers to \"" + callee
                            + "\", which is not defined");
                }
                todo.push(callee);
            }
            refs.put(rule, out);
        }
    }

    private static void collectRefs(Expr e, List<String> out) {
        switch (e) {
            case Expr.Ref r -> out.add(r.rule());
            case Expr.Seq s -> s.items().forEach(i -> collectRefs(i, out));
            case Expr.Alt a -> a.options().forEach(o -> collectRefs(o, out));
            case Expr.Repeat r -> collectRefs(r.item(), out);
            case Expr.Members m -> {
                m.members().forEach(x -> collectRefs(x, out));
                collectRefs(m.separator(), out);
                if (m.extra() != null) {
                    collectRefs(m.extra(), out);
                }
            }
            case Expr.Bytes b -> { }
            case Expr.Chars c -> { }
            case Expr.Lang l -> { }
        }
    }

    /** Tarjan's algorithm, iteratively: the components, each before any component that refers to it. */
    static List<List<String>> stronglyConnected(Map<String, List<String>> refs) {
        Map<String, Integer> index = new HashMap<>();
        Map<String, Integer> low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        Set<String> onStack = new HashSet<>();
        List<List<String>> out = new ArrayList<>();
        int[] counter = {0};
        for (String root : refs.keySet()) {
            if (index.containsKey(root)) {
                continue;
            }
            Deque<Object[]> work = new ArrayDeque<>(); // {node, next edge position}
            work.push(new Object[] {root, 0});
            index.put(root, counter[0]);
            low.put(root, counter[0]++);
            stack.push(root);
            onStack.add(root);
            while (!work.isEmpty()) {
                Object[] top = work.peek();
                String v = (String) top[0];
                List<String> edges = refs.get(v);
                int i = (Integer) top[1];
                if (i < edges.size()) {
                    top[1] = i + 1;
                    String w = edges.get(i);
                    if (!index.containsKey(w)) {
                        index.put(w, counter[0]);
                        low.put(w, counter[0]++);
                        stack.push(w);
                        onStack.add(w);
                        work.push(new Object[] {w, 0});
                    } else if (onStack.contains(w)) {
                        low.put(v, Math.min(low.get(v), index.get(w)));
                    }
                    continue;
                }
                work.pop();
                if (!work.isEmpty()) {
                    String parent = (String) work.peek()[0];
                    low.put(parent, Math.min(low.get(parent), low.get(v)));
                }
                if (low.get(v).equals(index.get(v))) {
                    List<String> scc = new ArrayList<>();
                    String w;
                    do {
                        w = stack.pop();
                        onStack.remove(w);
                        scc.add(w);
                    } while (!w.equals(v));
                    out.add(scc);
                }
            }
        }
        return out;
    }

    /** Joins the rules' byte classes, tabulates, checks left recursion, prunes. */
    private static Pda tabulate(List<String> names, List<Dfa> dfas) {
        int n = names.size();
        // Global byte classes: bytes that every rule's automaton treats alike.
        byte[] classOf = new byte[256];
        int classes = 1;
        for (Dfa d : dfas) {
            Map<Integer, Integer> split = new HashMap<>();
            byte[] refined = new byte[256];
            for (int x = 0; x < 256; x++) {
                int key = (classOf[x] & 0xFF) << 8 | (d.classOf[x] & 0xFF);
                Integer c = split.get(key);
                if (c == null) {
                    c = split.size();
                    split.put(key, c);
                }
                refined[x] = (byte) (int) c;
            }
            classOf = refined;
            classes = split.size();
        }
        int[] representative = new int[classes];
        for (int x = 255; x >= 0; x--) {
            representative[classOf[x] & 0xFF] = x;
        }
        int[][] next = new int[n][];
        boolean[][] accept = new boolean[n][];
        int[][][] calls = new int[n][][];
        for (int r = 0; r < n; r++) {
            Dfa d = dfas.get(r);
            int symbols = d.symbols();
            next[r] = new int[d.states * classes];
            accept[r] = d.accept.clone();
            calls[r] = new int[d.states][];
            for (int s = 0; s < d.states; s++) {
                for (int c = 0; c < classes; c++) {
                    next[r][s * classes + c] = d.next[s * symbols + (d.classOf[representative[c]] & 0xFF)];
                }
                Dfa.IntList pairs = new Dfa.IntList();
                for (int k = 0; k < d.callIds.length; k++) {
                    int t = d.next[s * symbols + d.classes + k];
                    if (t >= 0) {
                        pairs.add(d.callIds[k]);
                        pairs.add(t);
                    }
                }
                calls[r][s] = pairs.toArray(pairs.size());
            }
        }
        boolean[] productive = productive(n, classes, next, accept, calls);
        if (!productive[0]) {
            throw new GuidedDecodingException("the guide matches no text at all");
        }
        prune(n, classes, next, accept, calls, productive);
        checkLeftRecursion(names, next, accept, calls);
        int[][] compactNext = new int[n][];
        boolean[][] compactAccept = new boolean[n][];
        boolean[][] readsBytes = new boolean[n][];
        int[][][] compactCalls = new int[n][][];
        int[] start = new int[n];
        for (int r = 0; r < n; r++) {
            compact(r, classes, next, accept, calls, compactNext, compactAccept, readsBytes, compactCalls, start);
        }
        return new Pda(classes, classOf, names.toArray(String[]::new), 0, start, compactNext, compactAccept,
                readsBytes, compactCalls);
    }

    /** Rules that match some text: a path from start to acceptance over bytes and calls of such rules. */
    private static boolean[] productive(int n, int classes, int[][] next, boolean[][] accept, int[][][] calls) {
        boolean[] productive = new boolean[n];
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int r = 0; r < n; r++) {
                if (!productive[r] && reachesAccept(r, classes, next, accept, calls, productive, true)) {
                    productive[r] = true;
                    changed = true;
                }
            }
        }
        return productive;
    }

    /** Whether rule r's start reaches acceptance, over bytes (when allowed) and calls of rules in {@code usable}. */
    private static boolean reachesAccept(int r, int classes, int[][] next, boolean[][] accept, int[][][] calls,
                                         boolean[] usable, boolean bytes) {
        int states = accept[r].length;
        boolean[] seen = new boolean[states];
        Deque<Integer> todo = new ArrayDeque<>(List.of(0));
        seen[0] = true;
        while (!todo.isEmpty()) {
            int s = todo.pop();
            if (accept[r][s]) {
                return true;
            }
            if (bytes) {
                for (int c = 0; c < classes; c++) {
                    int t = next[r][s * classes + c];
                    if (t >= 0 && !seen[t]) {
                        seen[t] = true;
                        todo.push(t);
                    }
                }
            }
            int[] pairs = calls[r][s];
            for (int i = 0; i < pairs.length; i += 2) {
                if (usable[pairs[i]] && !seen[pairs[i + 1]]) {
                    seen[pairs[i + 1]] = true;
                    todo.push(pairs[i + 1]);
                }
            }
        }
        return false;
    }

    /** Drops calls of unproductive rules and every transition into a state that cannot reach acceptance. */
    private static void prune(int n, int classes, int[][] next, boolean[][] accept, int[][][] calls,
                              boolean[] productive) {
        for (int r = 0; r < n; r++) {
            int states = accept[r].length;
            for (int s = 0; s < states; s++) {
                int[] pairs = calls[r][s];
                List<Integer> kept = new ArrayList<>();
                for (int i = 0; i < pairs.length; i += 2) {
                    if (productive[pairs[i]]) {
                        kept.add(pairs[i]);
                        kept.add(pairs[i + 1]);
                    }
                }
                calls[r][s] = kept.stream().mapToInt(Integer::intValue).toArray();
            }
            // Backwards from the accepting states.
            List<List<Integer>> preds = new ArrayList<>();
            for (int s = 0; s < states; s++) {
                preds.add(new ArrayList<>());
            }
            for (int s = 0; s < states; s++) {
                for (int c = 0; c < classes; c++) {
                    int t = next[r][s * classes + c];
                    if (t >= 0) {
                        preds.get(t).add(s);
                    }
                }
                int[] pairs = calls[r][s];
                for (int i = 0; i < pairs.length; i += 2) {
                    preds.get(pairs[i + 1]).add(s);
                }
            }
            boolean[] live = new boolean[states];
            Deque<Integer> todo = new ArrayDeque<>();
            for (int s = 0; s < states; s++) {
                if (accept[r][s]) {
                    live[s] = true;
                    todo.push(s);
                }
            }
            while (!todo.isEmpty()) {
                for (int p : preds.get(todo.pop())) {
                    if (!live[p]) {
                        live[p] = true;
                        todo.push(p);
                    }
                }
            }
            for (int s = 0; s < states; s++) {
                for (int c = 0; c < classes; c++) {
                    int t = next[r][s * classes + c];
                    if (t >= 0 && !live[t]) {
                        next[r][s * classes + c] = -1;
                    }
                }
                int[] pairs = calls[r][s];
                List<Integer> kept = new ArrayList<>();
                for (int i = 0; i < pairs.length; i += 2) {
                    if (live[pairs[i + 1]]) {
                        kept.add(pairs[i]);
                        kept.add(pairs[i + 1]);
                    }
                }
                calls[r][s] = kept.stream().mapToInt(Integer::intValue).toArray();
            }
        }
    }

    /**
     * Refuses a rule that can call itself before reading a byte (through calls of rules that match the
     * empty string): running it would push frames forever.
     */
    private static void checkLeftRecursion(List<String> names, int[][] next, boolean[][] accept, int[][][] calls) {
        int n = names.size();
        boolean[] nullable = new boolean[n];
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int r = 0; r < n; r++) {
                if (!nullable[r] && reachesAccept(r, 0, next, accept, calls, nullable, false)) {
                    nullable[r] = true;
                    changed = true;
                }
            }
        }
        // leftCalls[r]: rules r may call before reading a byte.
        List<Set<Integer>> leftCalls = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            Set<Integer> out = new HashSet<>();
            boolean[] seen = new boolean[accept[r].length];
            Deque<Integer> todo = new ArrayDeque<>(List.of(0));
            seen[0] = true;
            while (!todo.isEmpty()) {
                int[] pairs = calls[r][todo.pop()];
                for (int i = 0; i < pairs.length; i += 2) {
                    out.add(pairs[i]);
                    if (nullable[pairs[i]] && !seen[pairs[i + 1]]) {
                        seen[pairs[i + 1]] = true;
                        todo.push(pairs[i + 1]);
                    }
                }
            }
            leftCalls.add(out);
        }
        Map<String, List<String>> graph = new LinkedHashMap<>();
        for (int r = 0; r < n; r++) {
            List<String> out = new ArrayList<>();
            for (int c : leftCalls.get(r)) {
                out.add(names.get(c));
            }
            graph.put(names.get(r), out);
        }
        for (List<String> scc : stronglyConnected(graph)) {
            if (scc.size() > 1 || graph.get(scc.getFirst()).contains(scc.getFirst())) {
                throw new GuidedDecodingException("rule \"" + scc.getLast() + "\" is left-recursive (it can call "
                        + (scc.size() > 1 ? "itself through " + String.join(", ", scc) : "itself")
                        + " before matching a character); rewrite it with repetition, e.g. a ::= b (\"+\" b)*");
            }
        }
    }

    /** Renumbers the live, reachable states of rule r (start = 0) into the final tables. */
    private static void compact(int r, int classes, int[][] next, boolean[][] accept, int[][][] calls,
                                int[][] outNext, boolean[][] outAccept, boolean[][] readsBytes, int[][][] outCalls,
                                int[] start) {
        int states = accept[r].length;
        int[] renumber = new int[states];
        Arrays.fill(renumber, -1);
        List<Integer> order = new ArrayList<>(List.of(0));
        renumber[0] = 0;
        for (int i = 0; i < order.size(); i++) {
            int s = order.get(i);
            for (int c = 0; c < classes; c++) {
                int t = next[r][s * classes + c];
                if (t >= 0 && renumber[t] < 0) {
                    renumber[t] = order.size();
                    order.add(t);
                }
            }
            int[] pairs = calls[r][s];
            for (int k = 0; k < pairs.length; k += 2) {
                int t = pairs[k + 1];
                if (renumber[t] < 0) {
                    renumber[t] = order.size();
                    order.add(t);
                }
            }
        }
        int m = order.size();
        outNext[r] = new int[m * classes];
        outAccept[r] = new boolean[m];
        readsBytes[r] = new boolean[m];
        outCalls[r] = new int[m][];
        for (int i = 0; i < m; i++) {
            int s = order.get(i);
            outAccept[r][i] = accept[r][s];
            for (int c = 0; c < classes; c++) {
                int t = next[r][s * classes + c];
                outNext[r][i * classes + c] = t < 0 ? -1 : renumber[t];
                readsBytes[r][i] |= t >= 0;
            }
            int[] pairs = calls[r][s].clone();
            for (int k = 0; k < pairs.length; k += 2) {
                pairs[k + 1] = renumber[pairs[k + 1]];
            }
            outCalls[r][i] = pairs;
        }
        start[r] = 0;
    }
}
