package io.trtllm.tokenizer;

import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The {@link ChatTemplate.Limits} of the render running on this thread, and the first of them it
 * went past. Jinjava has no time limit and does not stop at its own size limits (a loop that
 * outgrows its output limit records an error and the loop around it goes on), so the limits are
 * checked here, where a render spends its time and memory:
 * <ul>
 *   <li>before every template node Jinjava renders (a node pre-processor): the deadline, and
 *       whether the thread was interrupted;</li>
 *   <li>wherever this package's filters and string methods build text or lists: their size, before
 *       the memory is taken; and before Jinjava's own filters get a value they may print with Java's
 *       {@code toString} ({@link #requirePrintable});</li>
 *   <li>where Jinjava reports its own size limits ({@code maxOutputSize}, {@code maxListSize}).</li>
 * </ul>
 * The first limit hit is kept and a {@link Stop} thrown; every later node throws again, so a
 * render whose exception Jinjava swallowed (it records errors inside expressions and goes on) stops
 * at its next node. {@link ChatTemplate} then reports the kept limit as a
 * {@link TemplateLimitException}.
 */
final class RenderBudget implements AutoCloseable {
    private static final ThreadLocal<RenderBudget> CURRENT = new ThreadLocal<>();

    private final ChatTemplate.Limits limits;
    private final long deadline;
    private final @Nullable RenderBudget outer;
    private @Nullable String exceeded;
    private boolean interrupted;

    private RenderBudget(ChatTemplate.Limits limits) {
        this.limits = limits;
        this.deadline = System.nanoTime() + limits.renderTime().toNanos();
        this.outer = CURRENT.get();
    }

    /** Starts the budget of a render on this thread; close it when the render returns. */
    static RenderBudget start(ChatTemplate.Limits limits) {
        RenderBudget budget = new RenderBudget(limits);
        CURRENT.set(budget);
        return budget;
    }

    @Override
    public void close() {
        if (outer == null) {
            CURRENT.remove();
        } else {
            CURRENT.set(outer);
        }
    }

    /** The first limit the render went past, as a sentence for clients; null while within all. */
    @Nullable String exceeded() {
        return exceeded;
    }

    /** Whether the render stopped because its thread was interrupted. */
    boolean interrupted() {
        return interrupted;
    }

    /** Before each node: past the deadline, or interrupted, or a limit hit before, the render stops. */
    static void checkpoint() {
        RenderBudget budget = CURRENT.get();
        if (budget != null) {
            budget.check();
        }
    }

    private void check() {
        if (exceeded != null || interrupted) {
            throw new Stop(exceeded != null ? exceeded : "interrupted");
        }
        if (System.nanoTime() - deadline > 0) {
            exceed("rendering the chat template took longer than its limit of "
                    + limits.renderTime().toMillis() + " ms");
        }
        if (Thread.currentThread().isInterrupted()) {
            // The flag stays set for the caller; the render just ends here.
            interrupted = true;
            throw new Stop("interrupted");
        }
    }

    /**
     * A string of {@code chars} characters is about to be built for {@code what} (e.g.
     * {@code "str.replace"}): refused past the limit, before the memory is taken.
     */
    static void requireChars(long chars, String what) {
        int max = limits().maxChars();
        if (chars > max) {
            exceeded(what + " would build a string of " + chars + " characters, over the chat template's limit of " + max);
        }
    }

    /** A list of {@code items} items is about to be built for {@code what}: refused past the limit. */
    static void requireItems(long items, String what) {
        int max = limits().maxItems();
        if (items > max) {
            exceeded(what + " would build a list of " + items + " items, over the chat template's limit of " + max);
        }
    }

    /** A value nested {@code depth} levels deep is about to be written for {@code what}: refused past the limit. */
    static void requireDepth(int depth, String what) {
        if (depth > MAX_DEPTH) {
            // Python stops there too (RecursionError); here the thread's stack would.
            exceeded(what + " would write a value nested more than " + MAX_DEPTH + " levels deep");
        }
    }

    /**
     * {@code value} is about to be handed to code that may print it with Java's {@code toString}
     * (Jinjava's own filters): refused when its printed text would be over the string limit. A list
     * that holds one long message a thousand times prints to gigabytes in one step. Strings and
     * numbers pass at once; collections are walked only until the limit is reached.
     */
    static void requirePrintable(@Nullable Object value, String what) {
        if (value == null || value instanceof CharSequence || value instanceof Number || value instanceof Boolean) {
            return;
        }
        int max = limits().maxChars();
        long size = printedSize(value, max, 0);
        if (size > max) {
            exceeded(what + " would print a value over the chat template's limit of " + max + " characters");
        }
    }

    /** An upper estimate of {@code value}'s printed length, or anything over {@code max} once it is exceeded. */
    private static long printedSize(@Nullable Object value, long max, int depth) {
        if (value instanceof CharSequence s) {
            return s.length() + 2L;
        }
        if (depth > MAX_DEPTH) {
            return max + 1; // deeper than anything prints (a list that holds itself)
        }
        long size = 2;
        if (value instanceof Map<?, ?> map) {
            for (Map.Entry<?, ?> e : map.entrySet()) {
                size += 4 + printedSize(e.getKey(), max, depth + 1) + printedSize(e.getValue(), max, depth + 1);
                if (size > max) {
                    return size;
                }
            }
            return size;
        }
        if (value instanceof Iterable<?> items) {
            for (Object item : items) {
                size += 2 + printedSize(item, max, depth + 1);
                if (size > max) {
                    return size;
                }
            }
            return size;
        }
        if (value instanceof Object[] items) {
            for (Object item : items) {
                size += 2 + printedSize(item, max, depth + 1);
                if (size > max) {
                    return size;
                }
            }
            return size;
        }
        // Numbers, booleans, null, and other scalars print short.
        return 24;
    }

    /** Nesting depth of values that {@code tojson} and printing follow (Python's recursion limit is 1000). */
    static final int MAX_DEPTH = 1000;

    /** A limit was exceeded ({@code reason} says which, with its value): the render stops here. */
    static void exceeded(String reason) {
        RenderBudget budget = CURRENT.get();
        if (budget == null) {
            throw new Stop(reason);
        }
        budget.exceed(reason);
    }

    /** Jinjava hit one of its own limits (it records an error and goes on): the render stops at its next node. */
    static void jinjavaLimit(String reason) {
        RenderBudget budget = CURRENT.get();
        if (budget != null && budget.exceeded == null) {
            budget.exceeded = reason;
        }
    }

    /** The limits of the render on this thread (the defaults outside a render). */
    static ChatTemplate.Limits limits() {
        RenderBudget budget = CURRENT.get();
        return budget != null ? budget.limits : ChatTemplate.Limits.DEFAULT;
    }

    private void exceed(String reason) {
        if (exceeded == null) {
            exceeded = reason;
        }
        throw new Stop(exceeded);
    }

    /**
     * Ends a render that went past a limit. Without a stack trace: it is thrown again at every node
     * until the render has unwound, and only its message is ever reported.
     */
    static final class Stop extends RuntimeException {
        Stop(String message) {
            super(message, null, false, false);
        }
    }
}
