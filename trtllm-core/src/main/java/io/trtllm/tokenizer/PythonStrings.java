package io.trtllm.tokenizer;

import com.hubspot.jinjava.util.ForLoop;
import java.beans.FeatureDescriptor;
import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELException;
import jinjava.javax.el.ELResolver;
import org.jspecify.annotations.Nullable;

/**
 * Python semantics for what chat templates do to strings and sequences, where Jinjava (which
 * resolves {@code s.split(x)} to Java's {@code String.split} and has no {@code s.startswith}) would
 * fail or silently differ: Java's {@code split} takes a regex and drops trailing empty strings, so
 * {@code "a</think>".split("</think>")[-1]} would be {@code "a"} instead of Python's {@code ""}.
 *
 * <p>Installed first in Jinjava's resolver chain, it answers only what it knows:
 * <ul>
 *   <li>Python {@code str} methods on strings: {@code startswith endswith strip lstrip rstrip split rsplit
 *       splitlines upper lower title capitalize replace join find rfind count format removeprefix
 *       removesuffix isdigit isalpha isalnum isspace isupper islower};</li>
 *   <li>string indexing with negative indices ({@code s[-1]});</li>
 *   <li>slices with a step ({@code xs[::-1]}), which {@link JinjaPreprocessor} turns into a
 *       subscript by a {@link #sliceKey slice key}.</li>
 * </ul>
 * Methods that can build more than they are given ({@code replace}, {@code join}, {@code format},
 * {@code split}) check the size of what they build against the render's limits
 * ({@link RenderBudget}) before taking the memory: {@code s.replace('a', s)} squares a string.
 * No other method of a string can be called, and of other values only Python's non-mutating
 * mapping and sequence methods (see {@link #invoke}).
 */
final class PythonStrings extends ELResolver {
    /** Prefix of the subscript key that stands for a Python slice {@code [start:stop:step]}. */
    static final String SLICE_KEY_PREFIX = "\u0000py-slice:";

    private static final Object NOT_HANDLED = new Object();

    @Override
    public @Nullable Object getValue(ELContext context, @Nullable Object base, @Nullable Object property) {
        if (base == null || property == null) {
            return null;
        }
        String key = property.toString();
        if (key.startsWith(SLICE_KEY_PREFIX)) {
            context.setPropertyResolved(true);
            return slice(base, key);
        }
        if (base instanceof String s && isInteger(key)) {
            context.setPropertyResolved(true);
            int[] cps = s.codePoints().toArray();
            long i = Long.parseLong(key);
            if (i < 0) {
                i += cps.length;
            }
            // Out of range is an error in Python; Jinja2 turns a failed subscript into Undefined.
            return i >= 0 && i < cps.length ? new String(cps, (int) i, 1) : null;
        }
        return null;
    }

    /**
     * The methods a template may call besides {@code str}'s: Python's non-mutating ones, as in
     * transformers' immutable sandbox (whose lists and dicts refuse {@code append} or {@code update}).
     */
    private static final Set<String> MAPPING_METHODS = Set.of("items", "keys", "values", "get");
    private static final Set<String> SEQUENCE_METHODS = Set.of("index", "count", "copy");
    private static final Set<String> LOOP_METHODS = Set.of("cycle");

    /**
     * Strings get Python's methods; mappings, sequences and {@code loop} the few above, left to Jinjava.
     * Any other method of theirs is refused: Jinjava would call any public Java method, and
     * {@code 'x'.repeat(2000000000)} or a list's {@code toString()} takes gigabytes in one step.
     */
    @Override
    public @Nullable Object invoke(ELContext context, @Nullable Object base, @Nullable Object method,
            Class<?> @Nullable [] paramTypes, Object @Nullable [] params) {
        if (base == null || method == null) {
            return null;
        }
        String name = method.toString();
        if (base instanceof String s) {
            Object[] args = params == null ? new Object[0] : params;
            Object result = call(s, name, args);
            if (result == NOT_HANDLED) {
                throw new ELException("str has no method '" + name + "' here: chat templates get Python's str methods ("
                        + STR_METHODS + ")");
            }
            context.setPropertyResolved(true);
            return result;
        }
        // Jinjava calls filters, tests and macros as methods too (filter, evaluate): only values are limited.
        Set<String> allowed = base instanceof Map<?, ?> ? MAPPING_METHODS
                : base instanceof Collection<?> || base.getClass().isArray() ? SEQUENCE_METHODS
                : base instanceof ForLoop ? LOOP_METHODS
                : null;
        if (allowed != null && !allowed.contains(name)) {
            throw new ELException("'" + name + "' cannot be called here: chat templates get Python's non-mutating "
                    + "methods of str, dict (" + String.join(", ", new TreeSet<>(MAPPING_METHODS)) + ") and list ("
                    + String.join(", ", new TreeSet<>(SEQUENCE_METHODS)) + "), and loop.cycle");
        }
        return null;
    }

    /** The key under which {@code base[start:stop:step]} is looked up (null bounds are Python's None). */
    static String sliceKey(@Nullable Object start, @Nullable Object stop, @Nullable Object step) {
        return SLICE_KEY_PREFIX + bound(start) + ":" + bound(stop) + ":" + bound(step);
    }

    private static String bound(@Nullable Object v) {
        if (v == null) {
            return "";
        }
        if (v instanceof Number n && n.doubleValue() == n.longValue()) {
            return Long.toString(n.longValue());
        }
        throw new ELException("slice indices must be integers or None, found " + v);
    }

    private static Object slice(Object base, String key) {
        String[] parts = key.substring(SLICE_KEY_PREFIX.length()).split(":", -1);
        // A string slices by code point (as Python's str), without a String per character.
        int[] codePoints = base instanceof String s ? s.codePoints().toArray() : null;
        List<Object> items = codePoints != null ? null : toList(base);
        if (codePoints == null && items == null) {
            throw new ELException("cannot slice a " + base.getClass().getSimpleName());
        }
        int n = codePoints != null ? codePoints.length : items.size();
        long step = parts[2].isEmpty() ? 1 : Long.parseLong(parts[2]);
        if (step == 0) {
            throw new ELException("slice step cannot be zero");
        }
        // Python's PySlice_AdjustIndices.
        long start = adjust(parts[0], n, step, true);
        long stop = adjust(parts[1], n, step, false);
        if (codePoints != null) {
            StringBuilder sb = new StringBuilder();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
                sb.appendCodePoint(codePoints[(int) i]);
            }
            return sb.toString();
        }
        List<Object> out = new ArrayList<>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
            out.add(items.get((int) i));
        }
        return out;
    }

    private static long adjust(String v, int n, long step, boolean isStart) {
        if (v.isEmpty()) {
            return isStart ? (step < 0 ? n - 1 : 0) : (step < 0 ? -1 : n);
        }
        long i = Long.parseLong(v);
        if (i < 0) {
            i += n;
            if (i < 0) {
                i = step < 0 ? -1 : 0;
            }
        } else if (i >= n) {
            i = step < 0 ? n - 1 : n;
        }
        return i;
    }

    static @Nullable List<Object> toList(Object value) {
        if (value instanceof Collection<?> c) {
            return new ArrayList<>(c);
        }
        if (value.getClass().isArray()) {
            List<Object> list = new ArrayList<>();
            for (int i = 0; i < Array.getLength(value); i++) {
                list.add(Array.get(value, i));
            }
            return list;
        }
        if (value instanceof Iterable<?> it) {
            List<Object> list = new ArrayList<>();
            it.forEach(list::add);
            return list;
        }
        if (value instanceof Iterator<?> it) {
            List<Object> list = new ArrayList<>();
            it.forEachRemaining(list::add);
            return list;
        }
        return null;
    }

    private static final String STR_METHODS = "startswith endswith strip lstrip rstrip split rsplit splitlines upper "
            + "lower title capitalize replace join find rfind count format removeprefix removesuffix isdigit isalpha "
            + "isalnum isspace isupper islower";

    private static Object call(String s, String method, Object[] a) {
        return switch (method) {
            case "startswith" -> {
                arity(method, a, 1, 1);
                yield anyAffix(a[0], s::startsWith);
            }
            case "endswith" -> {
                arity(method, a, 1, 1);
                yield anyAffix(a[0], s::endsWith);
            }
            case "strip" -> strip(s, chars(method, a), true, true);
            case "lstrip" -> strip(s, chars(method, a), true, false);
            case "rstrip" -> strip(s, chars(method, a), false, true);
            case "split" -> split(s, a, false);
            case "rsplit" -> split(s, a, true);
            case "splitlines" -> {
                arity(method, a, 0, 0);
                yield splitlines(s);
            }
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s
                    : new String(Character.toChars(Character.toTitleCase(s.codePointAt(0))))
                            + s.substring(Character.charCount(s.codePointAt(0))).toLowerCase(Locale.ROOT);
            case "replace" -> {
                arity(method, a, 2, 3);
                yield replace(s, str(method, a[0]), str(method, a[1]), a.length == 3 ? integer(method, a[2]) : -1);
            }
            case "join" -> {
                arity(method, a, 1, 1);
                List<Object> items = a[0] == null ? null : toList(a[0]);
                if (items == null) {
                    throw new ELException("str.join expects an iterable, found " + a[0]);
                }
                StringBuilder sb = new StringBuilder();
                for (int i = 0; i < items.size(); i++) {
                    // Python joins strings only; anything else prints as str() (bounded, unlike Java's toString).
                    String item = items.get(i) instanceof String text ? text : PythonJson.str(items.get(i));
                    RenderBudget.requireChars(sb.length() + (i == 0 ? 0L : s.length()) + item.length(), "str.join");
                    sb.append(i == 0 ? "" : s).append(item);
                }
                yield sb.toString();
            }
            case "find" -> {
                arity(method, a, 1, 1);
                yield (long) codePointIndex(s, s.indexOf(str(method, a[0])));
            }
            case "rfind" -> {
                arity(method, a, 1, 1);
                yield (long) codePointIndex(s, s.lastIndexOf(str(method, a[0])));
            }
            case "count" -> {
                arity(method, a, 1, 1);
                yield count(s, str(method, a[0]));
            }
            case "format" -> format(s, a);
            case "removeprefix" -> {
                arity(method, a, 1, 1);
                String p = str(method, a[0]);
                yield s.startsWith(p) ? s.substring(p.length()) : s;
            }
            case "removesuffix" -> {
                arity(method, a, 1, 1);
                String p = str(method, a[0]);
                yield !p.isEmpty() && s.endsWith(p) ? s.substring(0, s.length() - p.length()) : s;
            }
            case "isdigit" -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isalnum" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
            case "isspace" -> !s.isEmpty() && s.codePoints().allMatch(PythonStrings::isPythonWhitespace);
            case "isupper" -> s.codePoints().anyMatch(Character::isUpperCase) && s.codePoints().noneMatch(Character::isLowerCase);
            case "islower" -> s.codePoints().anyMatch(Character::isLowerCase) && s.codePoints().noneMatch(Character::isUpperCase);
            default -> NOT_HANDLED;
        };
    }

    /** Python's {@code str.isspace()} for one code point (wider than Java's {@code Character.isWhitespace}). */
    static boolean isPythonWhitespace(int cp) {
        return switch (cp) {
            case '\t', '\n', 0x0B, '\f', '\r', 0x1C, 0x1D, 0x1E, 0x1F, ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029,
                 0x202F, 0x205F, 0x3000 -> true;
            default -> cp >= 0x2000 && cp <= 0x200A;
        };
    }

    /** Python's {@code str.strip(chars)}; {@code chars == null} strips whitespace. */
    static String strip(String s, @Nullable String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && stripped(s.codePointAt(start), chars)) {
            start += Character.charCount(s.codePointAt(start));
        }
        while (right && end > start && stripped(s.codePointBefore(end), chars)) {
            end -= Character.charCount(s.codePointBefore(end));
        }
        return s.substring(start, end);
    }

    private static boolean stripped(int cp, @Nullable String chars) {
        return chars == null ? isPythonWhitespace(cp) : chars.codePoints().anyMatch(c -> c == cp);
    }

    private static @Nullable String chars(String method, Object[] a) {
        arity(method, a, 0, 1);
        return a.length == 0 || a[0] == null ? null : str(method, a[0]);
    }

    private static List<String> split(String s, Object[] a, boolean fromRight) {
        String method = fromRight ? "rsplit" : "split";
        arity(method, a, 0, 2);
        String sep = a.length > 0 && a[0] != null ? str(method, a[0]) : null;
        long max = a.length > 1 ? integer(method, a[1]) : -1;
        if (sep != null && sep.isEmpty()) {
            throw new ELException("str." + method + ": empty separator");
        }
        // From the right, parts are collected last first and reversed at the end (adding each at
        // the front would take time quadratic in their number).
        List<String> parts = new BoundedList("str." + method);
        if (sep == null) {
            // Runs of whitespace separate; leading and trailing whitespace yields no empty strings.
            int[] cps = s.codePoints().toArray();
            if (fromRight) {
                int i = cps.length;
                while (true) {
                    while (i > 0 && isPythonWhitespace(cps[i - 1])) {
                        i--;
                    }
                    if (i == 0) {
                        break;
                    }
                    if (max >= 0 && parts.size() == max) {
                        parts.add(new String(cps, 0, i));
                        break;
                    }
                    int j = i;
                    while (j > 0 && !isPythonWhitespace(cps[j - 1])) {
                        j--;
                    }
                    parts.add(new String(cps, j, i - j));
                    i = j;
                }
            } else {
                int i = 0;
                while (true) {
                    while (i < cps.length && isPythonWhitespace(cps[i])) {
                        i++;
                    }
                    if (i == cps.length) {
                        break;
                    }
                    if (max >= 0 && parts.size() == max) {
                        parts.add(new String(cps, i, cps.length - i));
                        break;
                    }
                    int j = i;
                    while (j < cps.length && !isPythonWhitespace(cps[j])) {
                        j++;
                    }
                    parts.add(new String(cps, i, j - i));
                    i = j;
                }
            }
            if (fromRight) {
                Collections.reverse(parts);
            }
            return parts;
        }
        if (fromRight) {
            int end = s.length();
            int at;
            while ((max < 0 || parts.size() < max) && (at = s.lastIndexOf(sep, end - sep.length())) >= 0) {
                parts.add(s.substring(at + sep.length(), end));
                end = at;
            }
            parts.add(s.substring(0, end));
            Collections.reverse(parts);
            return parts;
        } else {
            int from = 0;
            int at;
            while ((max < 0 || parts.size() < max) && (at = s.indexOf(sep, from)) >= 0) {
                parts.add(s.substring(from, at));
                from = at + sep.length();
            }
            parts.add(s.substring(from));
        }
        return parts;
    }

    static List<String> splitlines(String s) {
        List<String> lines = new BoundedList("str.splitlines");
        int start = 0;
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            boolean brk = c == '\n' || c == '\r' || c == 0x0B || c == '\f' || c == 0x1C || c == 0x1D || c == 0x1E
                    || c == 0x85 || c == 0x2028 || c == 0x2029;
            if (brk) {
                lines.add(s.substring(start, i));
                i += c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n' ? 2 : 1;
                start = i;
            } else {
                i++;
            }
        }
        if (start < s.length()) {
            lines.add(s.substring(start));
        }
        return lines;
    }

    /** The parts of a split: refused past the render's item limit (a long message splits into millions). */
    private static final class BoundedList extends ArrayList<String> {
        private final String what;
        private final int max = RenderBudget.limits().maxItems();

        BoundedList(String what) {
            this.what = what;
        }

        @Override
        public boolean add(String part) {
            room();
            return super.add(part);
        }

        private void room() {
            if (size() >= max) {
                RenderBudget.requireItems(size() + 1L, what);
            }
        }
    }

    private static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            boolean cased = Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
            sb.appendCodePoint(cased ? (previousCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp)) : cp);
            previousCased = cased;
            i += Character.charCount(cp);
        }
        return sb.toString();
    }

    /** Python's {@code s.replace(old, replacement, count)} ({@code count < 0}: all), within the render's limits. */
    static String replace(String s, String old, String replacement, long count) {
        long occurrences = count(s, old);
        long replaced = count < 0 ? occurrences : Math.min(count, occurrences);
        RenderBudget.requireChars(s.length() + replaced * (replacement.length() - old.length()), "str.replace");
        if (count < 0) {
            return s.replace(old, replacement);
        }
        StringBuilder sb = new StringBuilder();
        int from = 0;
        for (long n = 0; n < count; n++) {
            int at = old.isEmpty() ? (from <= s.length() ? from : -1) : s.indexOf(old, from);
            if (at < 0) {
                break;
            }
            if (old.isEmpty()) {
                sb.append(replacement);
                if (at < s.length()) {
                    sb.appendCodePoint(s.codePointAt(at));
                }
                from = at + (at < s.length() ? Character.charCount(s.codePointAt(at)) : 1);
            } else {
                sb.append(s, from, at).append(replacement);
                from = at + old.length();
            }
        }
        if (from <= s.length()) {
            sb.append(s, from, s.length());
        }
        return sb.toString();
    }

    private static long count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.codePointCount(0, s.length()) + 1L;
        }
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    /** {@code str.format} with positional fields only: {@code {}}, {@code {0}}, and {@code {{ }}} escapes. */
    private static String format(String s, Object[] a) {
        StringBuilder sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '{' && i + 1 < s.length() && s.charAt(i + 1) == '{') {
                sb.append('{');
                i++;
            } else if (c == '}' && i + 1 < s.length() && s.charAt(i + 1) == '}') {
                sb.append('}');
                i++;
            } else if (c == '{') {
                int close = s.indexOf('}', i);
                if (close < 0) {
                    throw new ELException("str.format: single '{' in format string");
                }
                String field = s.substring(i + 1, close);
                int index = field.isEmpty() ? auto++ : parseIndex(field);
                if (index >= a.length) {
                    throw new ELException("str.format: no argument for field {" + field + "}");
                }
                String value = PythonJson.str(a[index]);
                RenderBudget.requireChars((long) sb.length() + value.length(), "str.format");
                sb.append(value);
                i = close;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private static int parseIndex(String field) {
        if (!isInteger(field) || field.startsWith("-")) {
            throw new ELException("str.format: only positional fields ({} or {0}) are supported, found {" + field + "}");
        }
        return Integer.parseInt(field);
    }

    private static Object anyAffix(@Nullable Object affix, java.util.function.Predicate<String> test) {
        if (affix instanceof String p) {
            return test.test(p);
        }
        List<Object> options = affix == null ? null : toList(affix);
        if (options == null) {
            throw new ELException("startswith/endswith expects a string or a tuple of strings, found " + affix);
        }
        return options.stream().anyMatch(o -> o instanceof String p && test.test(p));
    }

    private static int codePointIndex(String s, int charIndex) {
        return charIndex < 0 ? -1 : s.codePointCount(0, charIndex);
    }

    private static boolean isInteger(String s) {
        int start = s.startsWith("-") ? 1 : 0;
        if (s.length() == start || s.length() > 18) {
            return false;
        }
        for (int i = start; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }

    private static void arity(String method, Object[] a, int min, int max) {
        if (a.length < min || a.length > max) {
            throw new ELException("str." + method + " takes " + (min == max ? min : min + " to " + max)
                    + " arguments, got " + a.length);
        }
    }

    private static String str(String method, @Nullable Object v) {
        if (v instanceof String s) {
            return s;
        }
        throw new ELException("str." + method + ": expected a string argument, found " + v);
    }

    private static long integer(String method, @Nullable Object v) {
        if (v instanceof Number n) {
            return n.longValue();
        }
        throw new ELException("str." + method + ": expected an integer argument, found " + v);
    }

    // Resolution of properties is left to Jinjava's resolvers.
    @Override
    public @Nullable Class<?> getType(ELContext context, @Nullable Object base, @Nullable Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, @Nullable Object base, @Nullable Object property, @Nullable Object value) {
    }

    @Override
    public boolean isReadOnly(ELContext context, @Nullable Object base, @Nullable Object property) {
        return true;
    }

    @Override
    public @Nullable Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, @Nullable Object base) {
        return null;
    }

    @Override
    public @Nullable Class<?> getCommonPropertyType(ELContext context, @Nullable Object base) {
        return null;
    }
}
