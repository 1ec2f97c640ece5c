package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.jspecify.annotations.Nullable;

/**
 * Runs a {@link Pda} as a pushdown automaton over bytes, and remembers what it learns.
 *
 * <p>A {@link Frame} is one rule's state with, below it, the frame to return to (a persistent
 * stack: frames are immutable and share their tails). A {@link Config} is the set of stacks alive
 * after the bytes read so far — more than one where the grammar is ambiguous at that point, as in
 * llama.cpp's grammar engine — each with its top at a state that reads bytes; calls are pushed and
 * finished rules popped eagerly (the closure), and {@link Config#accepting} says whether some stack
 * ran out: the text so far is a complete match. A configuration with no stack that is not accepting
 * is {@link #dead}. A frame enters a stack only where its rule can still be finished within the nesting
 * limit ({@link Pda#need}), so that every configuration that is not dead can be completed.
 *
 * <p>Configurations are interned (up to {@code maxConfigs}; past that they are still correct, only not
 * shared) and each remembers its successor per byte class, so the automaton becomes, lazily, the DFA
 * of the configurations the text ever reaches: for a regular grammar (regex, choice, most JSON
 * schemas) a configuration is one state and a step is an array read after the first time.
 *
 * <p>Thread-safe: configurations and frames are immutable but for their successor cache, an
 * {@link AtomicReferenceArray} whose entries, computed twice by a race, are equal. A grammar so ambiguous
 * that more than {@code maxStacks} parses are alive at once fails the step with a
 * {@link GuidedDecodingException}.
 */
final class ConfigSpace {
    private final Pda pda;
    private final int maxDepth;
    private final int maxStacks;
    private final int maxConfigs;
    private final ConcurrentHashMap<Config, Config> interned = new ConcurrentHashMap<>();
    final Config dead;
    final Config initial;

    ConfigSpace(Pda pda, int maxDepth, int maxStacks, int maxConfigs) {
        this.pda = pda;
        this.maxDepth = maxDepth;
        this.maxStacks = maxStacks;
        this.maxConfigs = maxConfigs;
        this.dead = new Config(this, new Frame[0], false);
        int rootNeed = pda.need[pda.root][pda.start[pda.root]];
        if (rootNeed > maxDepth) {
            throw new GuidedDecodingException("the guide cannot be completed within " + maxDepth
                    + " levels of nesting (it needs " + (rootNeed == Integer.MAX_VALUE ? "more" : rootNeed) + ")");
        }
        Closure closure = new Closure();
        closure.add(new Frame(pda.root, pda.start[pda.root], null));
        this.initial = closure.result();
    }

    Pda pda() {
        return pda;
    }

    int internedCount() {
        return interned.size();
    }

    /** The configuration after byte {@code b}, or {@link #dead}. */
    Config step(Config c, byte b) {
        return step(c, pda.classOf(b));
    }

    /** The configuration after a byte of class {@code cls}, or {@link #dead}. */
    Config step(Config c, int cls) {
        Config known = c.next.get(cls);
        if (known != null) {
            return known;
        }
        Config computed = computeStep(c, cls);
        c.next.set(cls, computed);
        return computed;
    }

    /** The configuration after {@code bytes}, or {@link #dead}. */
    Config walk(Config c, byte[] bytes, int from) {
        for (int i = from; i < bytes.length && c != dead; i++) {
            c = step(c, bytes[i]);
        }
        return c;
    }

    private Config computeStep(Config c, int cls) {
        if (c == dead) {
            return dead;
        }
        Closure closure = new Closure();
        for (Frame f : c.frames) {
            int t = pda.next[f.rule][f.state * pda.classes + cls];
            if (t >= 0 && fits(f.rule, t, f.depth)) {
                closure.add(new Frame(f.rule, t, f.parent));
            }
        }
        return closure.result();
    }

    /** Whether a frame of rule {@code rule} at {@code state} and {@code depth} can finish within the nesting limit. */
    private boolean fits(int rule, int state, int depth) {
        return (long) depth - 1 + pda.need[rule][state] <= maxDepth;
    }

    private Config intern(Config c) {
        if (interned.size() >= maxConfigs) {
            Config known = interned.get(c);
            return known != null ? known : c;
        }
        Config known = interned.putIfAbsent(c, c);
        return known != null ? known : c;
    }

    /** Pushes calls and pops finished rules until every stack's top reads a byte. */
    private final class Closure {
        private final Set<Frame> visited = new HashSet<>();
        private final List<Frame> tops = new ArrayList<>();
        private final Deque<Frame> todo = new ArrayDeque<>();
        private boolean accepting;

        void add(Frame start) {
            todo.push(start);
            while (!todo.isEmpty()) {
                Frame f = todo.pop();
                if (!visited.add(f)) {
                    continue;
                }
                if (pda.readsBytes[f.rule][f.state]) {
                    tops.add(f);
                    if (tops.size() > maxStacks) {
                        throw new GuidedDecodingException("the grammar is too ambiguous: more than " + maxStacks
                                + " parses are alive at once (rule \"" + pda.ruleNames[f.rule] + "\")");
                    }
                }
                int[] calls = pda.calls[f.rule][f.state];
                for (int i = 0; i < calls.length; i += 2) {
                    int callee = calls[i];
                    if (fits(f.rule, calls[i + 1], f.depth) && fits(callee, pda.start[callee], f.depth + 1)) {
                        Frame ret = new Frame(f.rule, calls[i + 1], f.parent);
                        todo.push(new Frame(callee, pda.start[callee], ret));
                    }
                }
                if (pda.accept[f.rule][f.state]) {
                    if (f.parent == null) {
                        accepting = true;
                    } else {
                        todo.push(f.parent);
                    }
                }
            }
        }

        Config result() {
            if (tops.isEmpty() && !accepting) {
                return dead;
            }
            Frame[] frames = tops.toArray(Frame[]::new);
            Arrays.sort(frames, Comparator.comparingInt((Frame f) -> f.hash).thenComparingInt(f -> f.rule)
                    .thenComparingInt(f -> f.state).thenComparingInt(f -> f.depth));
            return intern(new Config(ConfigSpace.this, frames, accepting));
        }
    }

    /** One rule's state above the frame to return to (null at the bottom). Immutable. */
    static final class Frame {
        final int rule;
        final int state;
        final @Nullable Frame parent;
        /** Frames below and including this one. */
        final int depth;
        final int hash;

        Frame(int rule, int state, @Nullable Frame parent) {
            this.rule = rule;
            this.state = state;
            this.parent = parent;
            this.depth = parent == null ? 1 : parent.depth + 1;
            this.hash = 31 * (31 * (parent == null ? 0 : parent.hash) + rule) + state;
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) {
                return true;
            }
            return o instanceof Frame f && f.hash == hash && f.rule == rule && f.state == state && f.depth == depth
                    && Objects.equals(parent, f.parent);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /** The stacks alive after some text, and whether the text is a complete match. */
    static final class Config {
        final ConfigSpace space;
        final Frame[] frames;
        final boolean accepting;
        final int hash;
        final AtomicReferenceArray<Config> next;

        Config(ConfigSpace space, Frame[] frames, boolean accepting) {
            this.space = space;
            this.frames = frames;
            this.accepting = accepting;
            int h = accepting ? 1 : 0;
            for (Frame f : frames) {
                h += f.hash; // independent of the order of frames whose hashes tie
            }
            this.hash = h;
            this.next = new AtomicReferenceArray<>(space.pda.classes);
        }

        /** Whether no byte can follow: the text is complete (accepting) or dead. */
        boolean isFinal() {
            return frames.length == 0;
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) {
                return true;
            }
            if (!(o instanceof Config c) || c.space != space || c.hash != hash || c.accepting != accepting
                    || c.frames.length != frames.length) {
                return false;
            }
            // Sorted by hash: equal arrays unless frames of equal hash came in another order.
            return Arrays.equals(frames, c.frames) || Set.of(frames).equals(Set.of(c.frames));
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }
}
