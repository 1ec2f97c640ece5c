package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingException;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * Builds minimal {@link Dfa}s from {@link Expr}s: Thompson's construction into an {@link Nfa}, where a
 * repeated expression, an inlined rule and a prebuilt language enter as copies of their own minimal
 * DFAs (so counted repetitions copy a small automaton, not a large expression), then the subset
 * construction and Hopcroft's minimization. Within one builder, the DFA of an expression object is
 * built once.
 */
final class Automata {
    /** Most states of any automaton of a guide. */
    static final int MAX_STATES = 300_000;
    /** Most automaton states (nondeterministic ones included) built for one guide in all: compile time is bounded. */
    static final int MAX_WORK = 3_000_000;

    /** What a reference resolves to: a call of a kept rule (an Integer, its id), or an inlined rule's {@link Dfa}. */
    private final Function<String, Object> refs;
    private final Map<Expr, Dfa> built = new IdentityHashMap<>();
    private long work;

    Automata(Function<String, Object> refs) {
        this.refs = refs;
    }

    /** The minimal DFA of an expression without references. */
    static Dfa of(Expr e) {
        return new Automata(name -> {
            throw new IllegalStateException("reference to rule " + name + " where none may be");
        }).build(e);
    }

    Dfa build(Expr e) {
        if (e instanceof Expr.Lang l) {
            return l.dfa();
        }
        Dfa known = built.get(e);
        if (known != null) {
            return known;
        }
        Nfa nfa = new Nfa(MAX_STATES);
        int[] f = fragment(nfa, e);
        Dfa d = nfa.determinize(f[0], f[1], MAX_STATES);
        work += nfa.stateCount() + d.states;
        if (work > MAX_WORK) {
            throw new GuidedDecodingException("the guide is too large to compile: its automata would take more than "
                    + MAX_WORK + " states to build");
        }
        built.put(e, d);
        return d;
    }

    /** Adds {@code e} to the automaton: returns {entry, exit}. */
    private int[] fragment(Nfa nfa, Expr e) {
        return switch (e) {
            case Expr.Bytes b -> {
                int in = nfa.newState();
                int cur = in;
                for (byte x : b.value()) {
                    int t = nfa.newState();
                    nfa.byteRange(cur, t, x & 0xFF, x & 0xFF);
                    cur = t;
                }
                yield new int[] {in, cur};
            }
            case Expr.Chars c -> {
                int in = nfa.newState();
                int out = nfa.newState();
                for (int[] seq : Utf8Automata.sequences(c.set())) {
                    int cur = in;
                    for (int k = 0; k < seq.length; k += 2) {
                        int t = k + 2 == seq.length ? out : nfa.newState();
                        nfa.byteRange(cur, t, seq[k], seq[k + 1]);
                        cur = t;
                    }
                }
                yield new int[] {in, out};
            }
            case Expr.Seq s -> {
                int in = nfa.newState();
                int cur = in;
                for (Expr item : s.items()) {
                    int[] f = fragment(nfa, item);
                    nfa.epsilon(cur, f[0]);
                    cur = f[1];
                }
                yield new int[] {in, cur};
            }
            case Expr.Alt a -> {
                int in = nfa.newState();
                int out = nfa.newState();
                for (Expr option : a.options()) {
                    int[] f = fragment(nfa, option);
                    nfa.epsilon(in, f[0]);
                    nfa.epsilon(f[1], out);
                }
                yield new int[] {in, out};
            }
            case Expr.Repeat r -> repeat(nfa, r);
            case Expr.Members m -> members(nfa, m);
            case Expr.Ref ref -> {
                Object target = refs.apply(ref.rule());
                if (target instanceof Integer call) {
                    int in = nfa.newState();
                    int out = nfa.newState();
                    nfa.call(in, out, call);
                    yield new int[] {in, out};
                }
                yield nfa.embed((Dfa) target);
            }
            case Expr.Lang l -> nfa.embed(l.dfa());
        };
    }

    /**
     * States E_i (no member written yet, members from i on to come) and S_i (some written): member i
     * is entered from E_i directly and from S_i after the separator (one copy of it serves both, as both
     * lead on to S_i+1); an optional member may be skipped (E_i to E_i+1, S_i to S_i+1). Extra members
     * loop on S_n. The exit is S_n.
     */
    private int[] members(Nfa nfa, Expr.Members m) {
        int n = m.members().size();
        int[] e = new int[n + 1];
        int[] s = new int[n + 1];
        for (int i = 0; i <= n; i++) {
            e[i] = nfa.newState();
            s[i] = nfa.newState();
        }
        Dfa separator = build(m.separator());
        for (int i = 0; i < n; i++) {
            int[] member = nfa.embed(build(m.members().get(i)));
            int[] sep = nfa.embed(separator);
            nfa.epsilon(e[i], member[0]);
            nfa.epsilon(s[i], sep[0]);
            nfa.epsilon(sep[1], member[0]);
            nfa.epsilon(member[1], s[i + 1]);
            if (!m.required().get(i)) {
                nfa.epsilon(e[i], e[i + 1]);
                nfa.epsilon(s[i], s[i + 1]);
            }
        }
        if (m.extra() != null) {
            int[] extra = nfa.embed(build(m.extra()));
            int[] sep = nfa.embed(separator);
            nfa.epsilon(e[n], extra[0]);
            nfa.epsilon(s[n], sep[0]);
            nfa.epsilon(sep[1], extra[0]);
            nfa.epsilon(extra[1], s[n]);
        }
        return new int[] {e[0], s[n]};
    }

    private int[] repeat(Nfa nfa, Expr.Repeat r) {
        Dfa item = build(r.item());
        long copies = r.max() == Expr.UNBOUNDED ? r.min() + 1L : r.max();
        if ((long) item.states * copies + nfa.stateCount() > MAX_STATES) {
            throw new GuidedDecodingException("the guide is too large to compile: a repetition {" + r.min() + ","
                    + (r.max() == Expr.UNBOUNDED ? "" : r.max()) + "} of an automaton of " + item.states + " states");
        }
        int in = nfa.newState();
        int out = nfa.newState();
        int cur = in;
        for (int i = 0; i < r.min(); i++) {
            int[] c = nfa.embed(item);
            nfa.epsilon(cur, c[0]);
            cur = c[1];
        }
        nfa.epsilon(cur, out);
        if (r.max() == Expr.UNBOUNDED) {
            int[] c = nfa.embed(item);
            nfa.epsilon(cur, c[0]);
            nfa.epsilon(c[1], c[0]);
            nfa.epsilon(c[1], out);
        } else {
            for (int i = r.min(); i < r.max(); i++) {
                int[] c = nfa.embed(item);
                nfa.epsilon(cur, c[0]);
                nfa.epsilon(c[1], out);
                cur = c[1];
            }
        }
        return new int[] {in, out};
    }

}
