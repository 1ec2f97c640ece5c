package io.trtllm.tokenizer;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Rewrites a Hugging Face chat template (Python Jinja2 source) into Jinjava source with the same
 * meaning. Text is copied as it is, apart from the whitespace that Jinja2 itself removes; the
 * rewrites, each for a place where Jinjava differs from Jinja2:
 * <ol>
 *   <li><b>Whitespace.</b> transformers renders with {@code trim_blocks} and {@code lstrip_blocks}, and
 *       Jinja2 drops one newline at the very end of a template and reads {@code \r\n} as {@code \n}.
 *       Jinjava's own {@code lstripBlocks} also strips spaces before a tag that does not start its line
 *       ({@code "name: {% if %}"} loses the space), so both rules are applied here, exactly as Jinja2's
 *       lexer does (including the {@code {%+ %}} and {@code {% +%}} opt-outs), and Jinjava's are left off.
 *       Jinjava applies the {@code -} modifiers itself.</li>
 *   <li><b>Keyword arguments.</b> Jinjava parses {@code name=value} in a call as an operator with the
 *       precedence of {@code +}: {@code namespace(i=n - 1)} means {@code (i=n) - 1} and fails, and
 *       {@code namespace(s='a' + b)} silently yields something else. Keyword values get parentheses:
 *       {@code namespace(i=(n - 1))}. Macro signatures ({@code macro}, {@code call}) are left alone.</li>
 *   <li><b>Slices.</b> Jinjava's parser has no step ({@code messages[::-1]} in Qwen3) and no operators in
 *       bounds ({@code messages[:i+1]}). Every slice becomes a subscript by a slice key,
 *       {@code xs[__py_slice(a, b, c)]}, that {@link PythonStrings} resolves with Python's rules.</li>
 *   <li><b>Loop filters.</b> Jinjava ignores the {@code if} of {@code {% for x in xs if cond %}} and loops
 *       over everything. The filtered items are collected first, so {@code loop.last} and
 *       {@code loop.index} count only them, as in Jinja2.</li>
 *   <li><b>Numeric attributes.</b> {@code content.0.type} (Jinja2 reads {@code .0} as {@code [0]}) becomes
 *       {@code content[0].type}.</li>
 *   <li><b>Tokens Jinjava scans differently.</b> {@code n+1} (Jinjava reads {@code +1} as a literal) gets a
 *       space after {@code +}; {@code ({...})} (a one-element tuple to Jinjava) loses its parentheses;
 *       <code>&#125;&#125;</code> inside an expression ({@code {'a': {}}}) gets a space, since Jinjava ends a
 *       tag at the first <code>&#125;&#125;</code> it sees, while Jinja2 (and this class) ends it where brackets balance.</li>
 * </ol>
 */
final class JinjaPreprocessor {
    /** The template function that turns slice bounds into {@link PythonStrings#sliceKey a slice key}. */
    static final String SLICE_FUNCTION = "__py_slice";

    /** A comment holding a newline: no output, one line of source. */
    private static final String KEPT_NEWLINE = "{#\n#}";
    private static final Pattern KEYWORD_ARGUMENT = Pattern.compile("\\G(\\s*[A-Za-z_][A-Za-z0-9_]*\\s*=)(?!=)");
    private static final Pattern SIGNATURE_TAG = Pattern.compile("^\\s*(macro|call)\\b");
    private static final Pattern FOR_TAG = Pattern.compile("^\\s*for\\b");
    private static final Pattern RAW_TAG = Pattern.compile("^\\s*raw\\s*$");
    private static final Pattern END_RAW = Pattern.compile("\\{%([-+]?)\\s*endraw\\s*([-+]?)%}");

    private JinjaPreprocessor() {
    }

    /** A tag: {@code kind} is '{' (expression), '%' (statement) or '#' (comment); modifiers are "", "-" or "+". */
    private record Tag(char kind, String left, String body, String right, boolean rawStart) {
        boolean isBlockOrComment() {
            return kind == '%' || kind == '#';
        }
    }

    /** Text between tags; {@code start} is its offset in the normalized source. */
    private record Text(String text, int start) {
    }

    static String rewrite(String source) {
        String s = source.replace("\r\n", "\n").replace('\r', '\n');
        if (s.endsWith("\n")) {
            s = s.substring(0, s.length() - 1);
        }
        List<Text> texts = new ArrayList<>();
        List<Tag> tags = new ArrayList<>();
        split(s, texts, tags);

        StringBuilder out = new StringBuilder(s.length() + 64);
        int[] loopCounter = {0};
        for (int i = 0; i < texts.size(); i++) {
            @Nullable Tag before = i > 0 ? tags.get(i - 1) : null;
            @Nullable Tag after = i < tags.size() ? tags.get(i) : null;
            out.append(applyWhitespaceRules(s, texts.get(i), before, after));
            if (after != null) {
                out.append(emit(after, loopCounter));
            }
        }
        return out.toString();
    }

    /** Splits {@code s} into texts and tags, alternating: text, tag, text, ..., text. */
    private static void split(String s, List<Text> texts, List<Tag> tags) {
        int textStart = 0;
        int i = 0;
        while (true) {
            int open = s.indexOf('{', i);
            if (open < 0 || open + 1 >= s.length()) {
                break;
            }
            char kind = s.charAt(open + 1);
            if (kind != '{' && kind != '%' && kind != '#') {
                i = open + 1;
                continue;
            }
            String close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
            int end = kind == '#' ? s.indexOf(close, open + 2) : findClose(s, open + 2, close);
            if (end < 0) {
                // Unterminated: left as text for Jinjava to report.
                break;
            }
            String inner = s.substring(open + 2, end);
            String left = inner.startsWith("-") || inner.startsWith("+") ? inner.substring(0, 1) : "";
            inner = inner.substring(left.length());
            String right = !inner.isEmpty() && (inner.endsWith("-") || inner.endsWith("+"))
                    ? inner.substring(inner.length() - 1) : "";
            inner = inner.substring(0, inner.length() - right.length());
            texts.add(new Text(s.substring(textStart, open), textStart));
            boolean raw = kind == '%' && RAW_TAG.matcher(inner).matches();
            tags.add(new Tag(kind, left, inner, right, raw));
            i = end + 2;
            textStart = i;
            if (raw) {
                // Everything up to {% endraw %} is text, tags included.
                Matcher endRaw = END_RAW.matcher(s);
                if (!endRaw.find(i)) {
                    break;
                }
                texts.add(new Text(s.substring(i, endRaw.start()), i));
                tags.add(new Tag('%', endRaw.group(1), " endraw ", endRaw.group(2), false));
                i = endRaw.end();
                textStart = i;
            }
        }
        texts.add(new Text(s.substring(textStart), textStart));
    }

    /**
     * Jinja2's {@code trim_blocks} (the first newline after a block or comment tag goes) and
     * {@code lstrip_blocks} (spaces and tabs from the start of a line up to a block or comment tag go).
     */
    private static String applyWhitespaceRules(String s, Text text, @Nullable Tag before, @Nullable Tag after) {
        String t = text.text();
        int start = text.start();
        String trimmed = "";
        if (before != null && before.isBlockOrComment() && before.right().isEmpty() && !before.rawStart()
                && t.startsWith("\n")) {
            t = t.substring(1);
            start++;
            // The newline goes from the output but stays in the source, so Jinjava's line numbers
            // (in error messages) remain those of the template as written.
            trimmed = KEPT_NEWLINE;
        }
        if (after != null && after.isBlockOrComment() && after.left().isEmpty()) {
            int lineStart = t.lastIndexOf('\n') + 1;
            boolean atLineStart = lineStart > 0 || start == 0 || s.charAt(start - 1) == '\n';
            if (atLineStart && lineStart < t.length()
                    && t.substring(lineStart).codePoints().allMatch(PythonStrings::isPythonWhitespace)) {
                t = t.substring(0, lineStart);
            }
        }
        return trimmed + t;
    }

    private static String emit(Tag tag, int[] loopCounter) {
        // '+' only switches off trim_blocks / lstrip_blocks, which are applied already; Jinjava knows only '-'.
        String left = "-".equals(tag.left()) ? "-" : "";
        String right = "-".equals(tag.right()) ? "-" : "";
        return switch (tag.kind()) {
            case '#' -> "{#" + left + tag.body() + right + "#}";
            case '{' -> "{{" + left + separateClosingBraces(rewriteExpression(tag.body(), true)) + right + "}}";
            default -> {
                String body = tag.body();
                if (tag.rawStart() || body.strip().equals("endraw")) {
                    yield "{%" + left + body + right + "%}";
                }
                if (FOR_TAG.matcher(body).find()) {
                    yield forTag(body, left, right, loopCounter);
                }
                yield "{%" + left + separateClosingBraces(rewriteExpression(body, !SIGNATURE_TAG.matcher(body).find()))
                        + right + "%}";
            }
        };
    }

    /** {@code for TARGETS in ITER [if COND] [recursive]}; a filtered loop becomes collect-then-loop. */
    private static String forTag(String body, String left, String right, int[] loopCounter) {
        int in = topLevelWord(body, "in", 0);
        if (in < 0) {
            return "{%" + left + rewriteExpression(body, true) + right + "%}";
        }
        String head = body.substring(0, in);
        String targets = head.substring(head.indexOf("for") + 3).strip();
        int filter = topLevelWord(body, "if", in + 2);
        if (filter < 0) {
            return "{%" + left + head + "in" + separateClosingBraces(rewriteExpression(body.substring(in + 2), true))
                    + right + "%}";
        }
        String iter = separateClosingBraces(rewriteExpression(body.substring(in + 2, filter), true)).strip();
        String cond = body.substring(filter + 2);
        String rest = "";
        int recursive = topLevelWord(cond, "recursive", 0);
        if (recursive >= 0) {
            rest = " " + cond.substring(recursive).strip();
            cond = cond.substring(0, recursive);
        }
        cond = separateClosingBraces(rewriteExpression(cond, true)).strip();
        String ns = "__py_loop" + loopCounter[0]++;
        String item = targets.contains(",") ? "[" + targets + "]" : targets;
        return "{%" + left + " set " + ns + " = namespace(items=[]) %}"
                + "{% for " + targets + " in " + iter + " %}{% if " + cond + " %}"
                + "{% set " + ns + ".items = " + ns + ".items + [" + item + "] %}{% endif %}{% endfor %}"
                + "{% for " + targets + " in " + ns + ".items" + rest + " " + right + "%}";
    }

    /** Offset of {@code word} as a whole word outside strings and brackets, from {@code from}; -1 if none. */
    private static int topLevelWord(String body, String word, int from) {
        int depth = 0;
        for (int j = from; j < body.length(); j++) {
            char c = body.charAt(j);
            if (c == '\'' || c == '"') {
                j = skipString(body, j);
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                depth--;
            } else if (depth == 0 && body.startsWith(word, j)
                    && (j == 0 || !isWordChar(body.charAt(j - 1)))
                    && (j + word.length() == body.length() || !isWordChar(body.charAt(j + word.length())))) {
                return j;
            }
        }
        return -1;
    }

    private static boolean isWordChar(char c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }

    /**
     * Index of {@code close} from {@code from}, skipping string literals and, as Jinja2's lexer does,
     * only where brackets are balanced ({@code {{ {'a': {}} }}} ends at the last <code>&#125;&#125;</code>); -1 if none.
     */
    private static int findClose(String s, int from, String close) {
        int depth = 0;
        for (int j = from; j < s.length(); j++) {
            char c = s.charAt(j);
            if (c == '\'' || c == '"') {
                j = skipString(s, j);
            } else if (depth == 0 && s.startsWith(close, j)) {
                return j;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
                depth--;
            }
        }
        return -1;
    }

    /**
     * Jinjava ends a tag at the first <code>&#125;&#125;</code> or <code>%&#125;</code> it sees, even inside a dict literal:
     * a space goes between adjacent closing braces outside strings, and after a final one.
     */
    private static String separateClosingBraces(String body) {
        StringBuilder out = new StringBuilder(body.length() + 4);
        for (int j = 0; j < body.length(); j++) {
            char c = body.charAt(j);
            if (c == '\'' || c == '"') {
                int end = skipString(body, j);
                out.append(body, j, end + 1);
                j = end;
                continue;
            }
            out.append(c);
            if (c == '}' && (j + 1 == body.length() || body.charAt(j + 1) == '}')) {
                out.append(' ');
            }
        }
        return out.toString();
    }

    /** Index of the quote that closes the string literal opening at {@code j} (or the last index). */
    private static int skipString(String s, int j) {
        char quote = s.charAt(j);
        for (int k = j + 1; k < s.length(); k++) {
            char c = s.charAt(k);
            if (c == '\\') {
                k++;
            } else if (c == quote) {
                return k;
            }
        }
        return s.length() - 1;
    }

    private static final class Frame {
        final char open;
        final int start;
        final List<Integer> colons = new ArrayList<>();
        boolean keywordValueOpen;

        Frame(char open, int start) {
            this.open = open;
            this.start = start;
        }
    }

    /** Rewrites keyword arguments, slices and numeric attributes in one expression or statement body. */
    static String rewriteExpression(String body, boolean keywordArguments) {
        StringBuilder out = new StringBuilder(body.length() + 16);
        Deque<Frame> stack = new ArrayDeque<>();
        int j = 0;
        while (j < body.length()) {
            char c = body.charAt(j);
            Frame top = stack.peek();
            if (c == '\'' || c == '"') {
                int end = skipString(body, j);
                out.append(body, j, end + 1);
                j = end + 1;
                continue;
            }
            switch (c) {
                case '(', '[', '{' -> {
                    out.append(c);
                    Frame frame = new Frame(c, out.length());
                    stack.push(frame);
                    j++;
                    if (c == '(' && keywordArguments) {
                        j = openKeywordValue(body, j, out, frame);
                    }
                    continue;
                }
                case ')', ']', '}' -> {
                    if (top != null && matches(top.open, c)) {
                        stack.pop();
                        if (top.keywordValueOpen) {
                            out.append(')');
                        }
                        if (top.open == '[' && !top.colons.isEmpty() && top.colons.size() <= 2) {
                            sliceToKey(out, top);
                        }
                        if (top.open == '(' && unwrapDict(out, top)) {
                            j++;
                            continue;
                        }
                    }
                    out.append(c);
                }
                case '+' -> {
                    // Jinjava scans "+1" as a signed literal, so "n+1" and "n +1" fail to parse.
                    out.append(c);
                    if (j + 1 < body.length() && !Character.isWhitespace(body.charAt(j + 1))) {
                        out.append(' ');
                    }
                }
                case ',' -> {
                    if (top != null && top.open == '(') {
                        if (top.keywordValueOpen) {
                            out.append(')');
                            top.keywordValueOpen = false;
                        }
                        out.append(c);
                        j++;
                        if (keywordArguments) {
                            j = openKeywordValue(body, j, out, top);
                        }
                        continue;
                    }
                    out.append(c);
                }
                case ':' -> {
                    if (top != null && top.open == '[') {
                        top.colons.add(out.length());
                    }
                    out.append(c);
                }
                case '.' -> {
                    int digits = j + 1;
                    while (digits < body.length() && Character.isDigit(body.charAt(digits))) {
                        digits++;
                    }
                    if (digits > j + 1 && followsAttributeBase(out)
                            && (digits == body.length() || !isWordChar(body.charAt(digits)))) {
                        out.append('[').append(body, j + 1, digits).append(']');
                        j = digits;
                        continue;
                    }
                    out.append(c);
                }
                default -> out.append(c);
            }
            j++;
        }
        return out.toString();
    }

    /** {@code [a:b]} or {@code [a:b:c]} at the end of {@code out} becomes {@code [__py_slice(a, b, c)]}. */
    private static void sliceToKey(StringBuilder out, Frame frame) {
        String inner = out.substring(frame.start);
        List<String> bounds = new ArrayList<>();
        int from = 0;
        for (int colon : frame.colons) {
            bounds.add(inner.substring(from, colon - frame.start));
            from = colon - frame.start + 1;
        }
        bounds.add(inner.substring(from));
        while (bounds.size() < 3) {
            bounds.add("");
        }
        out.setLength(frame.start);
        out.append(SLICE_FUNCTION).append('(');
        for (int i = 0; i < 3; i++) {
            out.append(i == 0 ? "" : ", ").append(bounds.get(i).isBlank() ? "none" : bounds.get(i).strip());
        }
        out.append(')');
    }

    /**
     * A grouping {@code ({...})} becomes {@code {...}}: Jinjava makes a one-element tuple of a
     * parenthesized dict literal (Llama Guard 3 sets {@code categories = ({...})}).
     */
    private static boolean unwrapDict(StringBuilder out, Frame frame) {
        String inner = out.substring(frame.start).strip();
        boolean grouping = frame.start < 2 || !followsAttributeBase(new StringBuilder(out.substring(0, frame.start - 1)));
        if (!grouping || !inner.startsWith("{") || !inner.endsWith("}") || closingBrace(inner) != inner.length() - 1) {
            return false;
        }
        out.setLength(frame.start - 1);
        out.append(inner);
        return true;
    }

    /** Index of the brace that closes the one opening {@code s}, skipping strings; -1 if none. */
    private static int closingBrace(String s) {
        int depth = 0;
        for (int j = 0; j < s.length(); j++) {
            char c = s.charAt(j);
            if (c == '\'' || c == '"') {
                j = skipString(s, j);
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if ((c == ')' || c == ']' || c == '}') && --depth == 0) {
                return j;
            }
        }
        return -1;
    }

    /** Whether {@code out} ends with something an attribute can follow: a name, {@code )} or {@code ]}. */
    private static boolean followsAttributeBase(StringBuilder out) {
        int k = out.length() - 1;
        if (k < 0) {
            return false;
        }
        char last = out.charAt(k);
        if (last == ')' || last == ']') {
            return true;
        }
        while (k >= 0 && isWordChar(out.charAt(k))) {
            k--;
        }
        // A name starts with a letter or '_'; "1.5" is a number.
        return k < out.length() - 1 && !Character.isDigit(out.charAt(k + 1));
    }

    /** At an argument's start: copies {@code name=} and opens a parenthesis around the value. */
    private static int openKeywordValue(String body, int j, StringBuilder out, Frame frame) {
        Matcher m = KEYWORD_ARGUMENT.matcher(body);
        if (m.find(j) && m.start() == j) {
            out.append(m.group(1)).append('(');
            frame.keywordValueOpen = true;
            return m.end();
        }
        return j;
    }

    private static boolean matches(char open, char close) {
        return (open == '(' && close == ')') || (open == '[' && close == ']') || (open == '{' && close == '}');
    }
}
