package io.trtllm.sampling.guided;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A set of Unicode code points as sorted, disjoint, non-adjacent closed ranges
 * {@code [lo0, hi0, lo1, hi1, ...]}. Surrogates (U+D800..U+DFFF) may be in a set but are never
 * written: UTF-8 has no encoding for them ({@link Utf8Automata} leaves them out).
 */
record CodePointSet(int[] ranges) {
    static final int MAX = 0x10FFFF;
    static final CodePointSet EMPTY = new CodePointSet(new int[0]);
    static final CodePointSet ALL = range(0, MAX);

    CodePointSet {
        for (int i = 0; i < ranges.length; i += 2) {
            if (ranges[i] > ranges[i + 1] || ranges[i] < 0 || ranges[i + 1] > MAX
                    || (i > 0 && ranges[i] <= ranges[i - 1] + 1)) {
                throw new IllegalArgumentException("not sorted disjoint ranges: " + Arrays.toString(ranges));
            }
        }
    }

    static CodePointSet range(int lo, int hi) {
        return new CodePointSet(new int[] {lo, hi});
    }

    static CodePointSet of(int... codePoints) {
        Builder b = new Builder();
        for (int c : codePoints) {
            b.add(c, c);
        }
        return b.build();
    }

    /** The code points of {@code s}. */
    static CodePointSet ofChars(String s) {
        return of(s.codePoints().toArray());
    }

    boolean isEmpty() {
        return ranges.length == 0;
    }

    boolean contains(int c) {
        for (int i = 0; i < ranges.length; i += 2) {
            if (c < ranges[i]) {
                return false;
            }
            if (c <= ranges[i + 1]) {
                return true;
            }
        }
        return false;
    }

    CodePointSet union(CodePointSet other) {
        Builder b = new Builder();
        b.addAll(this);
        b.addAll(other);
        return b.build();
    }

    CodePointSet complement() {
        List<Integer> out = new ArrayList<>();
        int next = 0;
        for (int i = 0; i < ranges.length; i += 2) {
            if (ranges[i] > next) {
                out.add(next);
                out.add(ranges[i] - 1);
            }
            next = ranges[i + 1] + 1;
        }
        if (next <= MAX) {
            out.add(next);
            out.add(MAX);
        }
        return new CodePointSet(out.stream().mapToInt(Integer::intValue).toArray());
    }

    CodePointSet minus(CodePointSet other) {
        return complement().union(other).complement();
    }

    CodePointSet intersect(CodePointSet other) {
        return complement().union(other.complement()).complement();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CodePointSet other && Arrays.equals(ranges, other.ranges);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(ranges);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < ranges.length; i += 2) {
            s.append(String.format("%X", ranges[i]));
            if (ranges[i + 1] != ranges[i]) {
                s.append('-').append(String.format("%X", ranges[i + 1]));
            }
            if (i + 2 < ranges.length) {
                s.append(' ');
            }
        }
        return s.append(']').toString();
    }

    /** Collects ranges in any order, merging overlapping and adjacent ones. */
    static final class Builder {
        private final List<int[]> parts = new ArrayList<>();

        Builder add(int lo, int hi) {
            if (lo > hi) {
                throw new IllegalArgumentException("range out of order: " + lo + ".." + hi);
            }
            parts.add(new int[] {lo, hi});
            return this;
        }

        Builder addAll(CodePointSet set) {
            for (int i = 0; i < set.ranges.length; i += 2) {
                add(set.ranges[i], set.ranges[i + 1]);
            }
            return this;
        }

        CodePointSet build() {
            parts.sort((a, b) -> Integer.compare(a[0], b[0]));
            List<Integer> out = new ArrayList<>();
            for (int[] p : parts) {
                int n = out.size();
                if (n > 0 && p[0] <= out.get(n - 1) + 1) {
                    out.set(n - 1, Math.max(out.get(n - 1), p[1]));
                } else {
                    out.add(p[0]);
                    out.add(p[1]);
                }
            }
            return new CodePointSet(out.stream().mapToInt(Integer::intValue).toArray());
        }
    }
}
