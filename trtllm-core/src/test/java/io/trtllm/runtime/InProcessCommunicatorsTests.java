package io.trtllm.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.testing.Gen;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class InProcessCommunicatorsTests {
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    static java.util.stream.Stream<Long> seeds() {
        return Gen.seeds("InProcessCommunicatorsTests", 30);
    }

    /** Runs {@code body} on one thread per rank; returns each rank's result, in rank order. */
    static <T> List<T> onRanks(int size, IntFunction<Callable<T>> body) throws Exception {
        try (var pool = Executors.newFixedThreadPool(size)) {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < size; r++) {
                futures.add(pool.submit(body.apply(r)));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : futures) {
                out.add(f.get(30, TimeUnit.SECONDS));
            }
            return out;
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void allReduceGivesEveryRankTheSameRankOrderSum(long seed) throws Exception {
        Gen gen = new Gen(seed);
        int size = gen.intBetween(1, 5);
        int n = gen.intBetween(1, 300);
        int offset = gen.intBetween(0, 7);
        float[][] inputs = new float[size][offset + n];
        for (float[] in : inputs) {
            for (int i = 0; i < in.length; i++) {
                in[i] = (float) (gen.intBetween(-1_000_000, 1_000_000) * Math.pow(10, gen.intBetween(-9, -3)));
            }
        }
        float[] expected = new float[n];
        for (int i = 0; i < n; i++) {
            float sum = inputs[0][offset + i];
            for (int r = 1; r < size; r++) {
                sum += inputs[r][offset + i];
            }
            expected[i] = sum;
        }
        var comms = InProcessCommunicators.create(size, TIMEOUT);
        float[][] buffers = new float[size][];
        for (int r = 0; r < size; r++) {
            buffers[r] = inputs[r].clone();
        }
        onRanks(size, r -> () -> {
            // Twice: the barrier is reused, and the second sums the first's results.
            comms.get(r).allReduceSum(buffers[r], offset, n);
            comms.get(r).allReduceSum(buffers[r], offset, n);
            return null;
        });
        for (int r = 0; r < size; r++) {
            for (int i = 0; i < n; i++) {
                float twice = expected[i];
                float sum = twice;
                for (int k = 1; k < size; k++) {
                    sum += twice;
                }
                assertThat(Float.floatToIntBits(buffers[r][offset + i])).as("rank %d element %d", r, i)
                        .isEqualTo(Float.floatToIntBits(sum));
            }
            // Floats outside the range are untouched.
            for (int i = 0; i < offset; i++) {
                assertThat(buffers[r][i]).isEqualTo(inputs[r][i]);
            }
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void allGatherAndSendsDeliverEveryRanksDataInOrder(long seed) throws Exception {
        Gen gen = new Gen(seed);
        int size = gen.intBetween(2, 5);
        int n = gen.intBetween(1, 50);
        var comms = InProcessCommunicators.create(size, TIMEOUT);
        List<float[]> gathered = onRanks(size, r -> () -> {
            float[] mine = new float[n];
            for (int i = 0; i < n; i++) {
                mine[i] = r * 1000 + i;
            }
            float[] all = new float[size * n];
            comms.get(r).allGather(MemorySegment.ofArray(mine), MemorySegment.ofArray(all));
            // A ring of sends: each rank sends twice to the next and receives twice from the previous.
            comms.get(r).send(MemorySegment.ofArray(new float[] {r, 1}), (r + 1) % size);
            comms.get(r).send(MemorySegment.ofArray(new float[] {r, 2}), (r + 1) % size);
            float[] first = new float[2];
            float[] second = new float[2];
            comms.get(r).receive(MemorySegment.ofArray(first), (r + size - 1) % size);
            comms.get(r).receive(MemorySegment.ofArray(second), (r + size - 1) % size);
            assertThat(first).containsExactly((r + size - 1) % size, 1);
            assertThat(second).containsExactly((r + size - 1) % size, 2);
            return all;
        });
        for (float[] all : gathered) {
            for (int r = 0; r < size; r++) {
                for (int i = 0; i < n; i++) {
                    assertThat(all[r * n + i]).isEqualTo(r * 1000 + i);
                }
            }
        }
    }

    @Test
    void aRankThatNeverArrivesFailsTheOthersAtTheTimeout() throws Exception {
        var comms = InProcessCommunicators.create(2, Duration.ofMillis(300));
        long start = System.nanoTime();
        assertThatThrownBy(() -> comms.get(0).allReduceSum(new float[4], 0, 4))
                .isInstanceOf(CommunicatorException.class).hasMessageContaining("rank 0 waited more than 300 ms");
        assertThat(System.nanoTime() - start).isLessThan(TimeUnit.SECONDS.toNanos(5));
        // The group stays failed: the late rank and later calls fail at once.
        assertThatThrownBy(() -> comms.get(1).allReduceSum(new float[4], 0, 4)).isInstanceOf(CommunicatorException.class);
        assertThat(comms.get(1).failure()).isNotNull();
    }

    @Test
    void abortWakesRanksWaitingInACollectiveAndAReceive() throws Exception {
        var comms = InProcessCommunicators.create(3, Duration.ofMinutes(5));
        try (var pool = Executors.newFixedThreadPool(2)) {
            Future<?> waiting = pool.submit(() -> comms.get(0).allReduceSum(new float[8], 0, 8));
            Future<?> receiving = pool.submit(() -> comms.get(1).receive(MemorySegment.ofArray(new float[2]), 2));
            Thread.sleep(100);
            comms.get(2).abort(new IllegalStateException("rank 2 ran out of memory"));
            for (Future<?> f : List.of(waiting, receiving)) {
                assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                        .cause().isInstanceOf(CommunicatorException.class)
                        .hasMessageContaining("rank 2 ran out of memory");
            }
        }
    }

    @Test
    void mismatchedSizesFailTheGroupNamingBothRanks() throws Exception {
        var comms = InProcessCommunicators.create(2, TIMEOUT);
        try (var pool = Executors.newFixedThreadPool(2)) {
            Future<?> a = pool.submit(() -> comms.get(0).allReduceSum(new float[4], 0, 4));
            Future<?> b = pool.submit(() -> comms.get(1).allReduceSum(new float[6], 0, 6));
            for (Future<?> f : List.of(a, b)) {
                assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS)).cause().isInstanceOf(CommunicatorException.class)
                        .hasMessageContaining("all-reduce of");
            }
        }
    }

    @Test
    void refusesBadArguments() {
        assertThatThrownBy(() -> InProcessCommunicators.create(0, TIMEOUT)).hasMessageContaining("group size must be >= 1");
        assertThatThrownBy(() -> InProcessCommunicators.create(2, Duration.ZERO)).hasMessageContaining("timeout must be > 0");
        var comms = InProcessCommunicators.create(2, TIMEOUT);
        assertThatThrownBy(() -> comms.get(0).send(MemorySegment.ofArray(new float[1]), 0))
                .hasMessageContaining("peer 0 is not another rank");
        assertThatThrownBy(() -> comms.get(0).allGather(MemorySegment.ofArray(new float[2]), MemorySegment.ofArray(new float[3])))
                .hasMessageContaining("all-gather receives 12 bytes, expected 2 × 8");
    }
}
