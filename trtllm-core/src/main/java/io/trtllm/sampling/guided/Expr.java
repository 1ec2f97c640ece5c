package io.trtllm.sampling.guided;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The grammar expressions every kind of guide compiles to (regular expressions, GBNF rules, JSON
 * Schema): sequences, alternatives and repetitions of byte strings, code point classes (matched as
 * UTF-8), references to named rules, and prebuilt automata (for what expressions cannot say directly:
 * intersections and differences of languages).
 */
sealed interface Expr {
    /** Unbounded {@link Repeat#max}. */
    int UNBOUNDED = -1;

    /** Matches the empty string only. */
    Expr EMPTY = new Seq(List.of());
    /** Matches nothing. */
    Expr NOTHING = new Alt(List.of());

    /** Exactly these bytes. */
    record Bytes(byte[] value) implements Expr {
        @Override
        public boolean equals(Object o) {
            return o instanceof Bytes b && Arrays.equals(value, b.value);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(value);
        }

        @Override
        public String toString() {
            return "Bytes[" + new String(value, StandardCharsets.UTF_8) + "]";
        }
    }

    /** One code point of the set, as UTF-8. */
    record Chars(CodePointSet set) implements Expr {
    }

    record Seq(List<Expr> items) implements Expr {
        public Seq {
            items = List.copyOf(items);
        }
    }

    record Alt(List<Expr> options) implements Expr {
        public Alt {
            options = List.copyOf(options);
        }
    }

    /** {@code min} to {@code max} ({@link #UNBOUNDED}: any number) repetitions. */
    record Repeat(Expr item, int min, int max) implements Expr {
        public Repeat {
            if (min < 0 || (max != UNBOUNDED && max < min)) {
                throw new IllegalArgumentException("repetition {" + min + "," + max + "}");
            }
        }
    }

    /** The rule of that name. */
    record Ref(String rule) implements Expr {
    }

    /**
     * The members of a JSON object in a fixed order, each optional unless required, separated by
     * {@code separator}, then any number of {@code extra} members (null: none); at least one member in
     * all. Its own node so that it compiles to an automaton linear in the members: an expression would
     * need each optional member's rest twice, doubling per optional member.
     */
    record Members(List<Expr> members, List<Boolean> required, Expr separator, @Nullable Expr extra) implements Expr {
        public Members {
            members = List.copyOf(members);
            required = List.copyOf(required);
            if (members.size() != required.size()) {
                throw new IllegalArgumentException("one required flag per member");
            }
        }
    }

    /** A prebuilt automaton over bytes, without rule calls. */
    record Lang(Dfa dfa) implements Expr {
        public Lang {
            if (dfa.callIds.length > 0) {
                throw new IllegalArgumentException("a prebuilt language with rule calls");
            }
        }
    }

    static Expr literal(String text) {
        return new Bytes(text.getBytes(StandardCharsets.UTF_8));
    }

    static Expr chars(CodePointSet set) {
        return new Chars(set);
    }

    static Expr seq(Expr... items) {
        return seq(Arrays.asList(items));
    }

    /** A sequence, flattened, without empty items; one item is itself. */
    static Expr seq(List<Expr> items) {
        List<Expr> out = new ArrayList<>();
        for (Expr e : items) {
            if (e instanceof Seq s) {
                out.addAll(s.items());
            } else {
                out.add(e);
            }
        }
        return out.size() == 1 ? out.getFirst() : new Seq(out);
    }

    static Expr alt(Expr... options) {
        return alt(Arrays.asList(options));
    }

    static Expr alt(List<Expr> options) {
        return options.size() == 1 ? options.getFirst() : new Alt(options);
    }

    static Expr optional(Expr e) {
        return new Repeat(e, 0, 1);
    }

    static Expr star(Expr e) {
        return new Repeat(e, 0, UNBOUNDED);
    }

    static Expr plus(Expr e) {
        return new Repeat(e, 1, UNBOUNDED);
    }

    static Expr repeat(Expr e, int min, int max) {
        return new Repeat(e, min, max);
    }
}
