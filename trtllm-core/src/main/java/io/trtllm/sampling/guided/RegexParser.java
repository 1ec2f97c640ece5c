package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingException;
import java.util.ArrayList;
import java.util.List;

/**
 * Parses a regular expression (the common ground of ECMAScript's, which JSON Schema's {@code pattern}
 * uses, and Python's) into an {@link Expr} over code points.
 *
 * <p>Supported: literals; {@code .} (any code point but the line terminators \n, \r, U+2028, U+2029);
 * classes {@code [a-z]}, {@code [^...]} (ECMAScript: {@code []} matches nothing, {@code [^]} anything);
 * {@code \d \D \w \W \s \S} (ECMAScript's sets, ASCII digits and word characters); escapes
 * {@code \t \n \r \f \v \0 \xHH \\uHHHH \\u{H...}} and escaped punctuation; groups {@code (...)},
 * {@code (?:...)}, {@code (?<name>...)}, {@code (?P<name>...)}; alternation; quantifiers
 * {@code * + ? {n} {n,} {n,m}}, greedy or lazy (the same language); a {@code {} that starts no quantifier
 * is a literal. Anchors {@code ^} and {@code $} only at the start and end of a top-level alternative.
 *
 * <p>Refused, with the position: backreferences, lookaround, word boundaries, Unicode property classes,
 * inline flags, possessive quantifiers, anchors elsewhere — what a finite automaton cannot do, or what
 * we would get wrong.
 */
final class RegexParser {
    /** How the pattern applies to the whole text. */
    enum Mode {
        /** The whole text must match (TensorRT-LLM's, vLLM's and xgrammar's regex guides); anchors change nothing. */
        FULL_MATCH,
        /** The pattern must match somewhere in the text unless anchored (ECMAScript's test(), JSON Schema's pattern). */
        SEARCH
    }

    static final int MAX_REPEAT = 10_000;
    private static final int MAX_NESTING = 200;

    static final CodePointSet LINE_TERMINATORS = CodePointSet.of('\n', '\r', 0x2028, 0x2029);
    static final CodePointSet DIGITS = CodePointSet.range('0', '9');
    static final CodePointSet WORD = new CodePointSet.Builder().add('0', '9').add('A', 'Z').add('_', '_')
            .add('a', 'z').build();
    /** ECMAScript's WhiteSpace and LineTerminator. */
    static final CodePointSet SPACE = new CodePointSet.Builder().add('\t', '\r').add(' ', ' ').add(0xA0, 0xA0)
            .add(0x1680, 0x1680).add(0x2000, 0x200A).add(0x2028, 0x2029).add(0x202F, 0x202F).add(0x205F, 0x205F)
            .add(0x3000, 0x3000).add(0xFEFF, 0xFEFF).build();

    private final String pattern;
    private final int[] cps;
    private int pos;
    private int nesting;

    private RegexParser(String pattern) {
        this.pattern = pattern;
        this.cps = pattern.codePoints().toArray();
    }

    /**
     * @throws GuidedDecodingException naming the position and construct when the pattern is invalid or unsupported
     */
    static Expr parse(String pattern, Mode mode) {
        RegexParser p = new RegexParser(pattern);
        List<Expr> options = new ArrayList<>();
        do {
            boolean startAnchor = p.eat('^');
            List<Expr> items = p.sequence();
            boolean endAnchor = p.eat('$');
            if (p.more() && p.peek() != '|') {
                throw p.error(p.peek() == ')' ? "unbalanced )" : "$ is supported only at the end of the pattern or of a top-level alternative");
            }
            if (mode == Mode.SEARCH) {
                Expr any = Expr.star(Expr.chars(CodePointSet.ALL));
                if (!startAnchor) {
                    items.addFirst(any);
                }
                if (!endAnchor) {
                    items.add(any);
                }
            }
            options.add(Expr.seq(items));
        } while (p.eat('|'));
        return Expr.alt(options);
    }

    private List<Expr> sequence() {
        List<Expr> items = new ArrayList<>();
        while (more() && peek() != '|' && peek() != ')') {
            if (peek() == '$') {
                if (nesting == 0 && (pos + 1 == cps.length || cps[pos + 1] == '|')) {
                    break;
                }
                throw error("$ is supported only at the end of the pattern or of a top-level alternative");
            }
            if (peek() == '^') {
                throw error("^ is supported only at the start of the pattern or of a top-level alternative");
            }
            Expr atom = atom();
            items.add(quantified(atom));
        }
        return items;
    }

    private Expr alternation() {
        List<Expr> options = new ArrayList<>();
        do {
            options.add(Expr.seq(sequence()));
        } while (eat('|'));
        return Expr.alt(options);
    }

    private Expr atom() {
        int c = next();
        switch (c) {
            case '(' -> {
                if (++nesting > MAX_NESTING) {
                    throw error("groups nested deeper than " + MAX_NESTING);
                }
                if (eat('?')) {
                    if (eat(':')) {
                        // non-capturing
                    } else if (peek() == '<' && pos + 1 < cps.length && cps[pos + 1] != '=' && cps[pos + 1] != '!'
                            || peek() == 'P' && pos + 1 < cps.length && cps[pos + 1] == '<') {
                        eat('P');
                        eat('<');
                        while (more() && peek() != '>') {
                            pos++;
                        }
                        if (!eat('>')) {
                            throw error("unterminated group name");
                        }
                    } else if (peek() == '=' || peek() == '!' || peek() == '<') {
                        throw error("lookaround assertions are not supported");
                    } else {
                        throw error("inline flags and other (? groups are not supported");
                    }
                }
                Expr inner = alternation();
                if (!eat(')')) {
                    throw error("missing )");
                }
                nesting--;
                return inner;
            }
            case '[' -> {
                return Expr.chars(charClass());
            }
            case '.' -> {
                return Expr.chars(LINE_TERMINATORS.complement());
            }
            case '\\' -> {
                return Expr.chars(escape(false));
            }
            case '*', '+', '?' -> throw error("nothing to repeat before " + Character.toString(c));
            case '{' -> {
                pos--;
                if (quantifierAhead()) {
                    throw error("nothing to repeat before {");
                }
                pos++;
                return Expr.chars(CodePointSet.of('{'));
            }
            case ')' -> throw error("unbalanced )");
            default -> {
                return Expr.chars(CodePointSet.of(c));
            }
        }
    }

    private Expr quantified(Expr atom) {
        while (more()) {
            int min;
            int max;
            int c = peek();
            if (c == '*') {
                pos++;
                min = 0;
                max = Expr.UNBOUNDED;
            } else if (c == '+') {
                pos++;
                min = 1;
                max = Expr.UNBOUNDED;
            } else if (c == '?') {
                pos++;
                min = 0;
                max = 1;
            } else if (c == '{' && quantifierAhead()) {
                pos++;
                min = number();
                max = min;
                if (eat(',')) {
                    max = peek() == '}' ? Expr.UNBOUNDED : number();
                }
                eat('}');
                if (max != Expr.UNBOUNDED && max < min) {
                    throw error("repetition {" + min + "," + max + "} is out of order");
                }
            } else {
                return atom;
            }
            if (eat('?')) {
                // lazy: same language
            } else if (more() && peek() == '+') {
                throw error("possessive quantifiers are not supported");
            }
            atom = Expr.repeat(atom, min, max);
        }
        return atom;
    }

    /** Whether {@code {n}}, {@code {n,}} or {@code {n,m}} starts at pos. */
    private boolean quantifierAhead() {
        int i = pos + 1;
        int digits = 0;
        while (i < cps.length && cps[i] >= '0' && cps[i] <= '9') {
            i++;
            digits++;
        }
        if (digits == 0) {
            return false;
        }
        if (i < cps.length && cps[i] == ',') {
            i++;
            while (i < cps.length && cps[i] >= '0' && cps[i] <= '9') {
                i++;
            }
        }
        return i < cps.length && cps[i] == '}';
    }

    private int number() {
        long n = 0;
        int start = pos;
        while (more() && peek() >= '0' && peek() <= '9') {
            n = n * 10 + (next() - '0');
            if (n > MAX_REPEAT) {
                pos = start;
                throw error("repetition count above " + MAX_REPEAT);
            }
        }
        return (int) n;
    }

    private CodePointSet charClass() {
        boolean negated = eat('^');
        CodePointSet.Builder set = new CodePointSet.Builder();
        while (true) {
            if (!more()) {
                throw error("unterminated character class");
            }
            if (eat(']')) {
                break;
            }
            int start = pos;
            CodePointSet lo = classAtom();
            if (peek() == '-' && pos + 1 < cps.length && cps[pos + 1] != ']') {
                pos++;
                CodePointSet hi = classAtom();
                int a = single(lo, start);
                int b = single(hi, start);
                if (a > b) {
                    pos = start;
                    throw error("character range out of order");
                }
                set.add(a, b);
            } else {
                set.addAll(lo);
            }
        }
        CodePointSet s = set.build();
        return negated ? s.complement() : s;
    }

    private int single(CodePointSet s, int at) {
        int[] r = s.ranges();
        if (r.length != 2 || r[0] != r[1]) {
            pos = at;
            throw error("a class escape cannot be the end of a range");
        }
        return r[0];
    }

    private CodePointSet classAtom() {
        int c = next();
        return c == '\\' ? escape(true) : CodePointSet.of(c);
    }

    private CodePointSet escape(boolean inClass) {
        if (!more()) {
            throw error("\\ at the end of the pattern");
        }
        int c = next();
        return switch (c) {
            case 'd' -> DIGITS;
            case 'D' -> DIGITS.complement();
            case 'w' -> WORD;
            case 'W' -> WORD.complement();
            case 's' -> SPACE;
            case 'S' -> SPACE.complement();
            case 't' -> CodePointSet.of('\t');
            case 'n' -> CodePointSet.of('\n');
            case 'r' -> CodePointSet.of('\r');
            case 'f' -> CodePointSet.of('\f');
            case 'v' -> CodePointSet.of(0x0B);
            case '0' -> {
                if (more() && peek() >= '0' && peek() <= '9') {
                    throw error("octal escapes are not supported");
                }
                yield CodePointSet.of(0);
            }
            case 'b' -> {
                if (inClass) {
                    yield CodePointSet.of(8);
                }
                throw error("word boundaries (\\b) are not supported");
            }
            case 'x' -> CodePointSet.of(hex(2));
            case 'u' -> {
                if (eat('{')) {
                    int start = pos;
                    while (more() && peek() != '}') {
                        pos++;
                    }
                    if (!eat('}') || pos - 1 == start || pos - 1 - start > 6) {
                        throw error("bad \\u{...} escape");
                    }
                    int cp = Integer.parseInt(new String(cps, start, pos - 1 - start), 16);
                    if (cp > CodePointSet.MAX) {
                        throw error("code point above U+10FFFF");
                    }
                    yield CodePointSet.of(cp);
                }
                yield CodePointSet.of(hex(4));
            }
            case 'p', 'P' -> throw error("Unicode property classes (\\p{...}) are not supported");
            case 'B' -> throw error("\\B (not a word boundary) is not supported");
            case 'k' -> throw error("backreferences are not supported");
            case 'A', 'Z', 'z', 'G' -> throw error("\\" + Character.toString(c) + " anchors are not supported; use ^ and $");
            case 'c' -> throw error("control escapes (\\c) are not supported");
            default -> {
                if (c >= '1' && c <= '9') {
                    throw error("backreferences are not supported");
                }
                if (Character.isLetterOrDigit(c)) {
                    throw error("unknown escape \\" + Character.toString(c));
                }
                yield CodePointSet.of(c);
            }
        };
    }

    private int hex(int digits) {
        int v = 0;
        for (int i = 0; i < digits; i++) {
            int d = more() ? Character.digit(peek(), 16) : -1;
            if (d < 0) {
                throw error("expected " + digits + " hex digits");
            }
            pos++;
            v = v * 16 + d;
        }
        return v;
    }

    private boolean more() {
        return pos < cps.length;
    }

    private int peek() {
        return more() ? cps[pos] : -1;
    }

    private int next() {
        return cps[pos++];
    }

    private boolean eat(int c) {
        if (more() && cps[pos] == c) {
            pos++;
            return true;
        }
        return false;
    }

    private GuidedDecodingException error(String what) {
        return new GuidedDecodingException("regular expression /" + abbreviate(pattern) + "/ at position " + pos
                + ": " + what);
    }

    static String abbreviate(String s) {
        return s.length() <= 200 ? s : s.substring(0, 200) + "...";
    }
}
