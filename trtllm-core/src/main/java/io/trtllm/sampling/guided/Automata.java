package io.trtllm.sampling.guided;

import dk.brics.automaton.Automaton;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Builds dk.brics automata from {@link Expr}s. The automata read bytes as the chars 0..255; a call of
 * a rule that stays a rule (a recursive one) is the single char {@code CALL_BASE + index}, so that
 * determinization and minimization treat calls as letters of the alphabet like bytes.
 *
 * <p>dk.brics numbers its states from a static counter that is not thread-safe; only its ordering of
 * states in {@code SpecialOperations} depends on those numbers, and nothing here uses that class.
 */
final class Automata {
    /** The char of the call of rule 0; bytes are below it. */
    static final char CALL_BASE = 0x100;

    /** Most states of all automata of one guide, after minimization. */
    static final int MAX_STATES = 300_000;

    private final Function<String, Automaton> refs;
    private int budget;

    /**
     * @param refs the automaton of a reference: an inlined copy of a rule, or a call char
     */
    Automata(Function<String, Automaton> refs, int budget) {
        this.refs = refs;
        this.budget = budget;
    }

    /** Builds {@code e} into a minimal DFA, for expressions without references. */
    static Automaton of(Expr e) {
        return new Automata(name -> {
            throw new IllegalStateException("reference to rule " + name + " where none may be");
        }, MAX_STATES).build(e);
    }

    /** A minimal DFA of {@code e}. */
    Automaton build(Expr e) {
        Automaton a = raw(e);
        a.minimize();
        charge(a);
        return a;
    }

    private Automaton raw(Expr e) {
        return switch (e) {
            case Expr.Bytes b -> Automaton.makeString(latin1(b.value()));
            case Expr.Chars c -> Utf8Automata.of(c.set());
            case Expr.Seq s -> {
                List<Automaton> parts = new ArrayList<>(s.items().size());
                for (Expr item : s.items()) {
                    parts.add(raw(item));
                }
                Automaton a = parts.isEmpty() ? Automaton.makeEmptyString() : Automaton.concatenate(parts);
                yield minimizedIfLarge(a);
            }
            case Expr.Alt alt -> {
                if (alt.options().isEmpty()) {
                    yield Automaton.makeEmpty();
                }
                List<Automaton> parts = new ArrayList<>(alt.options().size());
                for (Expr option : alt.options()) {
                    parts.add(raw(option));
                }
                yield minimizedIfLarge(Automaton.union(parts));
            }
            case Expr.Repeat r -> {
                Automaton item = raw(r.item());
                item.minimize();
                long copies = r.max() == Expr.UNBOUNDED ? Math.max(r.min(), 1) : r.max();
                if ((long) item.getNumberOfStates() * copies > budget) {
                    throw new GuidedDecodingException("the guide is too large to compile: a repetition {" + r.min() + ","
                            + (r.max() == Expr.UNBOUNDED ? "" : r.max()) + "} of an expression of "
                            + item.getNumberOfStates() + " states");
                }
                Automaton a = r.max() == Expr.UNBOUNDED ? item.repeat(r.min()) : item.repeat(r.min(), r.max());
                a.minimize();
                yield a;
            }
            case Expr.Ref ref -> refs.apply(ref.rule()).clone();
            case Expr.Lang l -> l.automaton().clone();
        };
    }

    private Automaton minimizedIfLarge(Automaton a) {
        if (a.getNumberOfStates() > 64) {
            a.minimize();
        }
        if (a.getNumberOfStates() > budget) {
            throw tooLarge();
        }
        return a;
    }

    private void charge(Automaton a) {
        budget -= a.getNumberOfStates();
        if (budget < 0) {
            throw tooLarge();
        }
    }

    int budgetLeft() {
        return budget;
    }

    private GuidedDecodingException tooLarge() {
        return new GuidedDecodingException("the guide is too large to compile: its automata would have more than "
                + MAX_STATES + " states");
    }

    static String latin1(byte[] bytes) {
        char[] chars = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            chars[i] = (char) (bytes[i] & 0xFF);
        }
        return new String(chars);
    }
}
