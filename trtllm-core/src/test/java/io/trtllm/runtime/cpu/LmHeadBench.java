package io.trtllm.runtime.cpu;

import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * One thread's LM head against this core's FMA limits: what a beam step's four rows cost against a greedy step's
 * one in the kernel that dominates a small model's decode pass. Measures first the core's FMA peak (16 independent
 * accumulator chains) and one chain's latency, then {@link VectorKernels#matmul} over a checkpoint's LM head
 * (stories15M by default; the weights packed as the runner packs them) for 1, 4 and 8 tokens, in two settings
 * interleaved in every round: <em>cached</em>, half of the head's panels (one thread's share with two threads)
 * back to back, so that much of them stays in L2/L3; and <em>streamed</em>, all panels after reading a 64 MiB
 * array, so that the weights come from memory as in a real pass (where every layer's weights pass through the
 * caches between two LM heads). Prints the best call of each round in µs and GFLOP/s, and the 4-token call's
 * time over the 1-token one. A benchmark, not a test.
 *
 * <p>Run: {@code scripts/bench-lm-head.sh [model dir] [rounds]} (docs/PERFORMANCE.md).
 */
public final class LmHeadBench {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int[] TOKENS = {1, 4, 8};
    /** Floats read between two streamed calls: 64 MiB, more than this machine's caches hold. */
    private static final int FLUSH_FLOATS = 16 << 20;

    private LmHeadBench() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : System.getProperty("user.home") + "/.cache/trtllm/models/stories15M");
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        double peak = 0;
        double chainNanos = Double.MAX_VALUE;
        for (int r = 0; r < 5; r++) { // the first rounds run before C2 has compiled the loops
            long iters = 20_000_000;
            long t0 = System.nanoTime();
            float a = fmaChains(iters);
            long t1 = System.nanoTime();
            float b = fmaChain(iters);
            long t2 = System.nanoTime();
            peak = Math.max(peak, 16.0 * iters * F.length() * 2 / (t1 - t0));
            chainNanos = Math.min(chainNanos, (double) (t2 - t1) / iters);
            sink += a + b;
        }
        System.out.printf(Locale.ROOT, "%d float lanes; FMA peak of one thread %.1f GFLOP/s (16 chains); one chain %.2f ns per FMA "
                + "(%.1f GFLOP/s, the bound of a kernel with 2 chains: %.1f)%n", F.length(), peak, chainNanos,
                F.length() * 2 / chainNanos, 2 * F.length() * 2 / chainNanos);

        ModelConfig config = ModelConfig.load(dir);
        Kernels kernels = new VectorKernels();
        float[] junk = new float[FLUSH_FLOATS];
        Arrays.fill(junk, 1f);
        try (var checkpoint = Checkpoint.open(dir); var weights = new CpuWeights(config, checkpoint, kernels, true)) {
            PackedMatrix head = weights.lmHead();
            int rows = head.rows();
            int cols = head.cols();
            System.out.printf(Locale.ROOT, "%s LM head %d × %d (%s, %s), 1 thread, best call per round%n", dir.getFileName(), rows,
                    cols, head.format(), weights.placement());
            System.out.println("| round | setting | 1 token µs (GFLOP/s) | 4 tokens µs (GFLOP/s) | 8 tokens µs (GFLOP/s) | 4 / 1 |");
            System.out.println("|---|---|---|---|---|---|");
            var rnd = new SplittableRandom(11);
            float[] x = new float[TOKENS[TOKENS.length - 1] * cols];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rnd.nextGaussian();
            }
            float[] out = new float[TOKENS[TOKENS.length - 1] * rows + RunState.PAD];
            for (int round = 0; round <= rounds; round++) {
                long[][] best = new long[2][TOKENS.length];
                for (long[] b : best) {
                    Arrays.fill(b, Long.MAX_VALUE);
                }
                for (int rep = 0; rep < 30; rep++) {
                    for (int setting = 0; setting < 2; setting++) {
                        for (int t = 0; t < TOKENS.length; t++) {
                            int panels = setting == 0 ? head.panels() / 2 : head.panels();
                            if (setting == 1) {
                                sink += stream(junk);
                            }
                            long t0 = System.nanoTime();
                            kernels.matmul(x, TOKENS[t], head, 0, panels, out, rows, 0);
                            best[setting][t] = Math.min(best[setting][t], System.nanoTime() - t0);
                        }
                    }
                }
                sink += out[7];
                if (round == 0) {
                    continue; // JIT warm-up
                }
                for (int setting = 0; setting < 2; setting++) {
                    long macs = (long) (setting == 0 ? head.panels() / 2 * head.panelRows() : rows) * cols;
                    StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "| %d | %s |", round,
                            setting == 0 ? "cached (half the panels)" : "streamed (all panels)"));
                    for (int t = 0; t < TOKENS.length; t++) {
                        line.append(String.format(Locale.ROOT, " %.0f (%.1f) |", best[setting][t] / 1e3,
                                2.0 * TOKENS[t] * macs / best[setting][t]));
                    }
                    line.append(String.format(Locale.ROOT, " %.2f× |", (double) best[setting][1] / best[setting][0]));
                    System.out.println(line);
                }
            }
        }
        if (sink == 42) {
            System.out.println(); // keeps the results alive
        }
    }

    private static double sink;

    /** Sum of every 16th float: reads all of {@code a}'s cache lines. */
    private static float stream(float[] a) {
        float s = 0;
        for (int i = 0; i < a.length; i += 16) {
            s += a[i];
        }
        return s;
    }

    /** 16 independent FMA chains: the core's FMA throughput. */
    private static float fmaChains(long iters) {
        FloatVector a0 = FloatVector.broadcast(F, 1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        FloatVector a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
        FloatVector m = FloatVector.broadcast(F, 0.9999999f);
        FloatVector c = FloatVector.broadcast(F, 1e-7f);
        for (long i = 0; i < iters; i++) {
            a0 = a0.fma(m, c);
            a1 = a1.fma(m, c);
            a2 = a2.fma(m, c);
            a3 = a3.fma(m, c);
            a4 = a4.fma(m, c);
            a5 = a5.fma(m, c);
            a6 = a6.fma(m, c);
            a7 = a7.fma(m, c);
            a8 = a8.fma(m, c);
            a9 = a9.fma(m, c);
            a10 = a10.fma(m, c);
            a11 = a11.fma(m, c);
            a12 = a12.fma(m, c);
            a13 = a13.fma(m, c);
            a14 = a14.fma(m, c);
            a15 = a15.fma(m, c);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11).add(a12).add(a13)
                .add(a14).add(a15).reduceLanes(VectorOperators.ADD);
    }

    /** One dependent FMA chain: the FMA latency. */
    private static float fmaChain(long iters) {
        FloatVector a = FloatVector.broadcast(F, 1f);
        FloatVector m = FloatVector.broadcast(F, 0.9999999f);
        FloatVector c = FloatVector.broadcast(F, 1e-7f);
        for (long i = 0; i < iters; i++) {
            a = a.fma(m, c);
        }
        return a.reduceLanes(VectorOperators.ADD);
    }
}
