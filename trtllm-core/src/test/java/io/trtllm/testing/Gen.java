package io.trtllm.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.LongStream;
import java.util.stream.Stream;

/**
 * Random cases for property tests, reproducible from one seed: a property is a JUnit
 * {@code @ParameterizedTest(name = "seed {0}") @MethodSource} over {@link #seeds}, whose body builds
 * a {@code Gen} from its seed and draws its inputs. A failing case names its seed in the test's
 * display name; {@code -Dtrtllm.test.seed=N} runs only that seed again, {@code -Dtrtllm.test.tries=K}
 * changes how many seeds each property gets.
 *
 * <p>Draws mix small values (so that most cases do real work) with the edges where bugs live:
 * 0, ±1, the limits of int and long, and values around the caller's own limits ({@link #frequency}).
 * There is no shrinking: cases are small by construction, and the seed reproduces a failure exactly.
 *
 * <p>(We do not use jqwik: from 1.10 on its maintainers ask AI coding agents not to use it, and this
 * project is partly written by such agents.)
 */
public final class Gen {
    private static final long BASE_SEED = 0x7472746c6c6dL; // "trtllm"

    private final SplittableRandom random;
    private final long seed;

    public Gen(long seed) {
        this.seed = seed;
        this.random = new SplittableRandom(seed);
    }

    /**
     * The seeds of a property: {@code tries} of them derived from the property's name (so that adding
     * a property does not change another's cases), or the one given with {@code -Dtrtllm.test.seed}.
     */
    public static Stream<Long> seeds(String property, int tries) {
        String fixed = System.getProperty("trtllm.test.seed");
        if (fixed != null && !fixed.isBlank()) {
            return Stream.of(Long.parseLong(fixed.strip()));
        }
        int n = Integer.getInteger("trtllm.test.tries", tries);
        SplittableRandom r = new SplittableRandom(BASE_SEED ^ property.hashCode());
        return LongStream.range(0, n).map(i -> r.nextLong()).boxed();
    }

    public long seed() {
        return seed;
    }

    /** Uniform in {@code [min, max]} (both included). */
    public int intBetween(int min, int max) {
        return (int) longBetween(min, max);
    }

    /** Uniform in {@code [min, max]} (both included). */
    public long longBetween(long min, long max) {
        if (min == Long.MIN_VALUE && max == Long.MAX_VALUE) {
            return random.nextLong();
        }
        return max == Long.MAX_VALUE ? random.nextLong(min - 1, max) + 1 : random.nextLong(min, max + 1);
    }

    /** Any int, with the edges (0, ±1, MIN, MAX and their neighbours) a third of the time. */
    public int anyInt() {
        return random.nextInt(3) == 0
                ? oneOf(0, 1, -1, 2, Integer.MAX_VALUE, Integer.MAX_VALUE - 1, Integer.MIN_VALUE, Integer.MIN_VALUE + 1)
                : random.nextInt();
    }

    /** Any long, with the edges a third of the time. */
    public long anyLong() {
        return random.nextInt(3) == 0
                ? oneOf(0L, 1L, -1L, (long) Integer.MAX_VALUE, 1L << 31, 1L << 32, Long.MAX_VALUE, Long.MIN_VALUE)
                : random.nextLong();
    }

    /** Any double: edges (±0, ±1, NaN, ±infinity, the smallest and largest) or random bits. */
    public double anyDouble() {
        return random.nextInt(3) == 0
                ? oneOf(0.0, -0.0, 1.0, -1.0, Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY,
                        Double.MIN_VALUE, Double.MAX_VALUE, -Double.MAX_VALUE)
                : Double.longBitsToDouble(random.nextLong());
    }

    public boolean bool() {
        return random.nextBoolean();
    }

    /** True with probability {@code p}. */
    public boolean chance(double p) {
        return random.nextDouble() < p;
    }

    @SafeVarargs
    public final <T> T oneOf(T... values) {
        return values[random.nextInt(values.length)];
    }

    public <T> T oneOf(List<T> values) {
        return values.get(random.nextInt(values.size()));
    }

    /**
     * One of several generators, chosen with the given weights:
     * {@code frequency(8, () -> intBetween(0, 40), 1, this::anyInt)}.
     */
    public <T> T frequency(int w1, Supplier<? extends T> s1, int w2, Supplier<? extends T> s2) {
        return weighted(List.of(w1, w2), List.of(s1, s2));
    }

    public <T> T frequency(int w1, Supplier<? extends T> s1, int w2, Supplier<? extends T> s2, int w3,
                           Supplier<? extends T> s3) {
        return weighted(List.of(w1, w2, w3), List.of(s1, s2, s3));
    }

    public <T> T frequency(int w1, Supplier<? extends T> s1, int w2, Supplier<? extends T> s2, int w3,
                           Supplier<? extends T> s3, int w4, Supplier<? extends T> s4) {
        return weighted(List.of(w1, w2, w3, w4), List.of(s1, s2, s3, s4));
    }

    private <T> T weighted(List<Integer> weights, List<Supplier<? extends T>> suppliers) {
        int pick = random.nextInt(weights.stream().mapToInt(Integer::intValue).sum());
        for (int i = 0; i < weights.size(); i++) {
            pick -= weights.get(i);
            if (pick < 0) {
                return suppliers.get(i).get();
            }
        }
        throw new AssertionError("unreachable");
    }

    /** {@code null} with probability {@code p}, else the supplier's value. */
    public <T> T orNull(double p, Supplier<T> value) {
        return chance(p) ? null : value.get();
    }

    /** Between 0 and {@code maxSize} elements. */
    public <T> List<T> listOf(int maxSize, Supplier<T> element) {
        int n = random.nextInt(maxSize + 1);
        List<T> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(element.get());
        }
        return out;
    }

    /** Up to {@code maxSize} elements whose keys differ (later duplicates dropped). */
    public <T, K> List<T> uniqueListOf(int maxSize, Supplier<T> element, Function<T, K> key) {
        List<T> out = new ArrayList<>();
        var seen = new java.util.HashSet<K>();
        for (T t : listOf(maxSize, element)) {
            if (seen.add(key.apply(t))) {
                out.add(t);
            }
        }
        return out;
    }

    public byte[] bytes(int maxLength) {
        byte[] b = new byte[random.nextInt(maxLength + 1)];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) random.nextInt(256);
        }
        return b;
    }

    /** A string of {@code minLength..maxLength} characters from {@code alphabet}. */
    public String string(String alphabet, int minLength, int maxLength) {
        int n = intBetween(minLength, maxLength);
        StringBuilder s = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            s.append(alphabet.charAt(random.nextInt(alphabet.length())));
        }
        return s.toString();
    }

    /** Any string of UTF-16 units (unpaired surrogates and controls included). */
    public String anyString(int maxLength) {
        int n = random.nextInt(maxLength + 1);
        StringBuilder s = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            s.append(this.<Character>frequency(6, () -> (char) intBetween(0x20, 0x7e), 1, () -> (char) intBetween(0, 0x1f),
                    1, () -> (char) intBetween(0x80, 0xffff)));
        }
        return s.toString();
    }

    /**
     * How often each outcome of a property came, so that a property can check it said something about
     * each (a property that refuses every case proves nothing about the cases that run).
     */
    public static final class Outcomes {
        private final ConcurrentHashMap<String, AtomicInteger> counts = new ConcurrentHashMap<>();

        public void count(String outcome) {
            counts.computeIfAbsent(outcome, k -> new AtomicInteger()).incrementAndGet();
        }

        public int of(String outcome) {
            AtomicInteger n = counts.get(outcome);
            return n == null ? 0 : n.get();
        }

        /** True when only one seed was asked for: coverage checks make no sense then. */
        public static boolean singleSeed() {
            String fixed = System.getProperty("trtllm.test.seed");
            return fixed != null && !fixed.isBlank();
        }

        @Override
        public String toString() {
            return new java.util.TreeMap<>(counts).toString();
        }
    }
}
