package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses a grammar in llama.cpp's GBNF into a {@link Grammar} that starts at rule {@code root}.
 *
 * <pre>
 * root   ::= object
 * object ::= "{" ws ( pair ( "," ws pair )* )? "}"
 * pair   ::= [a-z]+ ":" ws [0-9]+ ws     # comments run to the end of the line
 * ws     ::= [ \t\n]{0,4}
 * </pre>
 *
 * <p>As llama.cpp: rule names of letters, digits and {@code -} (we also take {@code _} and {@code .});
 * string literals {@code "..."} and character classes {@code [...]}, {@code [^...]} of code points,
 * with escapes {@code \n \r \t \\ \" \[ \] \xHH \\uHHHH \UHHHHHHHH}; {@code .} any code point; grouping,
 * alternation, {@code * + ?} and {@code {m} {m,} {m,n} {,n}}. A newline ends a rule outside
 * parentheses unless the next line goes on with {@code |}. Rules may be recursive, but not on the left
 * (llama.cpp refuses that too). Token references ({@code <[id]>}, {@code <name>}) are refused: this
 * engine constrains text, not token ids.
 */
final class GbnfParser {
    private static final int MAX_NESTING = 200;

    private final int[] cps;
    private int pos;
    private int nesting;

    private GbnfParser(String text) {
        this.cps = text.codePoints().toArray();
    }

    /** @throws GuidedDecodingException naming the line and column (and rule) of a syntax error */
    static Grammar parse(String text) {
        GbnfParser p = new GbnfParser(text);
        Map<String, Expr> rules = new LinkedHashMap<>();
        p.skip(true);
        while (p.more()) {
            int at = p.pos;
            String name = p.name();
            if (name.isEmpty()) {
                throw p.error("expected a rule name");
            }
            p.skip(false);
            if (!p.eatString("::=")) {
                throw p.error("expected ::= after rule name " + name);
            }
            p.skip(true);
            Expr body = p.alternates(false);
            if (rules.containsKey(name)) {
                p.pos = at;
                throw p.error("rule " + name + " is defined twice");
            }
            rules.put(name, body);
            p.skip(false);
            if (p.more() && p.peek() != '\n' && p.peek() != '\r') {
                throw p.error("unexpected " + Character.toString(p.peek()) + " in rule " + name);
            }
            p.skip(true);
        }
        if (!rules.containsKey("root")) {
            throw new GuidedDecodingException("the grammar has no rule \"root\" to start from");
        }
        return new Grammar(rules, "root");
    }

    private Expr alternates(boolean nested) {
        List<Expr> options = new ArrayList<>();
        options.add(sequence(nested));
        while (true) {
            int save = pos;
            skip(true);
            if (eat('|')) {
                skip(true);
                options.add(sequence(nested));
            } else {
                // A newline ends the rule outside parentheses; inside, skip(true) already crossed it.
                pos = nested ? pos : save;
                break;
            }
        }
        return Expr.alt(options);
    }

    private Expr sequence(boolean nested) {
        List<Expr> items = new ArrayList<>();
        while (true) {
            skip(nested);
            if (!more()) {
                break;
            }
            int c = peek();
            if (c == '|' || c == ')' || c == '\n' || c == '\r') {
                break;
            }
            Expr atom;
            if (c == '"') {
                pos++;
                atom = literal();
            } else if (c == '[') {
                pos++;
                atom = Expr.chars(charClass());
            } else if (c == '.') {
                pos++;
                atom = Expr.chars(CodePointSet.ALL);
            } else if (c == '(') {
                pos++;
                if (++nesting > MAX_NESTING) {
                    throw error("groups nested deeper than " + MAX_NESTING);
                }
                skip(true);
                atom = alternates(true);
                skip(true);
                if (!eat(')')) {
                    throw error("expected )");
                }
                nesting--;
            } else if (c == '<') {
                throw error("token references (<...>) are not supported");
            } else if (isNameChar(c)) {
                int at = pos;
                String name = name();
                int save = pos;
                skip(true);
                if (eatString("::=")) {
                    pos = at;
                    throw error("missing newline before the definition of rule " + name);
                }
                pos = save;
                atom = new Expr.Ref(name);
            } else {
                throw error("unexpected " + Character.toString(c));
            }
            items.add(repetitions(atom));
        }
        return Expr.seq(items);
    }

    private Expr repetitions(Expr atom) {
        while (more()) {
            int c = peek();
            if (c == '*') {
                pos++;
                atom = Expr.star(atom);
            } else if (c == '+') {
                pos++;
                atom = Expr.plus(atom);
            } else if (c == '?') {
                pos++;
                atom = Expr.optional(atom);
            } else if (c == '{') {
                pos++;
                skip(false);
                int min = peek() == ',' ? 0 : number();
                int max = min;
                skip(false);
                if (eat(',')) {
                    skip(false);
                    max = peek() == '}' ? Expr.UNBOUNDED : number();
                    skip(false);
                }
                if (!eat('}')) {
                    throw error("expected } to close the repetition");
                }
                if (max != Expr.UNBOUNDED && max < min) {
                    throw error("repetition {" + min + "," + max + "} is out of order");
                }
                atom = Expr.repeat(atom, min, max);
            } else {
                break;
            }
        }
        return atom;
    }

    private int number() {
        long n = 0;
        int digits = 0;
        while (more() && peek() >= '0' && peek() <= '9') {
            n = n * 10 + (next() - '0');
            digits++;
            if (n > RegexParser.MAX_REPEAT) {
                throw error("repetition count above " + RegexParser.MAX_REPEAT);
            }
        }
        if (digits == 0) {
            throw error("expected a number");
        }
        return (int) n;
    }

    private Expr literal() {
        List<Expr> chars = new ArrayList<>();
        while (true) {
            if (!more()) {
                throw error("unterminated string literal");
            }
            int c = next();
            if (c == '"') {
                break;
            }
            if (c == '\n' || c == '\r') {
                throw error("newline in a string literal");
            }
            chars.add(Expr.chars(CodePointSet.of(c == '\\' ? escape() : c)));
        }
        return Expr.seq(chars);
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
            int lo = classChar();
            if (peek() == '-' && pos + 1 < cps.length && cps[pos + 1] != ']') {
                pos++;
                int hi = classChar();
                if (lo > hi) {
                    throw error("character range out of order");
                }
                set.add(lo, hi);
            } else {
                set.add(lo, lo);
            }
        }
        CodePointSet s = set.build();
        return negated ? s.complement() : s;
    }

    private int classChar() {
        int c = next();
        return c == '\\' ? escape() : c;
    }

    private int escape() {
        if (!more()) {
            throw error("\\ at the end of the grammar");
        }
        int c = next();
        return switch (c) {
            case 'n' -> '\n';
            case 'r' -> '\r';
            case 't' -> '\t';
            case '\\', '"', '[', ']', '-', '^', '/', '\'' -> c;
            case 'x' -> hex(2);
            case 'u' -> hex(4);
            case 'U' -> {
                int cp = hex(8);
                if (cp > CodePointSet.MAX) {
                    throw error("code point above U+10FFFF");
                }
                yield cp;
            }
            default -> throw error("unknown escape \\" + Character.toString(c));
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

    private String name() {
        int start = pos;
        while (more() && isNameChar(peek())) {
            pos++;
        }
        return new String(cps, start, pos - start);
    }

    private static boolean isNameChar(int c) {
        return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.';
    }

    /** Skips spaces, tabs and comments, and newlines too when {@code newlines}. */
    private void skip(boolean newlines) {
        while (more()) {
            int c = peek();
            if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) {
                pos++;
            } else if (c == '#') {
                while (more() && peek() != '\n' && peek() != '\r') {
                    pos++;
                }
            } else {
                break;
            }
        }
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

    private boolean eatString(String s) {
        int[] want = s.codePoints().toArray();
        if (pos + want.length > cps.length) {
            return false;
        }
        for (int i = 0; i < want.length; i++) {
            if (cps[pos + i] != want[i]) {
                return false;
            }
        }
        pos += want.length;
        return true;
    }

    private GuidedDecodingException error(String what) {
        int line = 1;
        int column = 1;
        for (int i = 0; i < pos && i < cps.length; i++) {
            if (cps[i] == '\n') {
                line++;
                column = 1;
            } else {
                column++;
            }
        }
        return new GuidedDecodingException("grammar line " + line + ", column " + column + ": " + what);
    }
}
