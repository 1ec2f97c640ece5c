package io.trtllm.runtime.cpu;

import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Every matmul of a decode pass (stories15M's by default), one token against four, on one thread: why a beam-4
 * step's layer matmuls cost more than greedy's when the FLOPs are not what limits them. Two settings, interleaved in
 * every round:
 * <ul>
 *   <li><em>in pass order</em>: the matrices called as a pass calls them (each layer's qkv, wo, gate, up, down, then
 *       the LM head), each call timed alone, so that every call finds the caches as a real pass leaves them (the
 *       model's matmul weights, 61 MB for stories15M, do not fit this machine's caches: each call streams its matrix
 *       from memory or L3);</li>
 *   <li><em>cached</em>: layer 0's matrix called three times back to back, the last call timed (its 0.3–1 MB then in
 *       L2, or L2 and L3; the head's half, 18 MB, in L3 as far as it fits).</li>
 * </ul>
 * A third column set, <em>4 × 1</em>, times four one-token calls over each panel in turn (the 4-token work as the
 * one-token kernel does it: the first call streams the panel, the other three read it from L1 or L2), the bits of
 * the four-token kernel (checked once at start). Prints per matrix kind (summed over the layers) the median and the
 * minimum over the round's passes, in µs. Weights load as the runner loads them: from a CPU engine's directory
 * (the fourth argument; the model directory still gives the configuration) they are copied onto huge pages, from a
 * plain checkpoint packed at load on ordinary pages. With more than one thread (the fifth argument) the 1- and
 * 4-token calls in pass order are split over the threads as a pass splits them ({@link ParallelLoops#matmul}); the
 * cached ones of the head and the 4 × 1 mode stay on one thread. A benchmark, not a test.
 *
 * <p>Run: {@code scripts/bench-layer-matmuls.sh [model dir] [rounds] [passes] [engine dir or -] [threads]}
 * (docs/PERFORMANCE.md).
 */
public final class LayerMatmulBench {
    private static final String[] KINDS = {"qkv", "wo", "gate", "up", "down", "LM head"};
    /** Ways to run a call: 1 token, 4 tokens ({@code panel4}), 4 tokens as four one-token calls per panel. */
    private static final String[] MODES = {"1 token", "4 tokens", "4 × 1 token"};

    private LayerMatmulBench() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : System.getProperty("user.home") + "/.cache/trtllm/models/stories15M");
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 4;
        int passes = args.length > 2 ? Integer.parseInt(args[2]) : 40;
        Path weightsDir = args.length > 3 && !args[3].equals("-") ? Path.of(args[3]) : dir;
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : 1;
        ModelConfig config = ModelConfig.load(dir);
        Kernels kernels = new VectorKernels();
        try (var checkpoint = Checkpoint.open(weightsDir); var weights = new CpuWeights(config, checkpoint, kernels, true);
             var loops = new ParallelLoops(threads, kernels)) {
            LayerMatmulBench.loops = loops;
            int layers = weights.layers();
            int maxRows = weights.lmHead().rows();
            int maxCols = Math.max(config.hiddenSize(), config.intermediateSize());
            var rnd = new SplittableRandom(5);
            float[] x = new float[4 * maxCols + RunState.PAD];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rnd.nextGaussian();
            }
            float[] out = new float[4 * maxRows + RunState.PAD];
            float[] check = new float[4 * maxRows + RunState.PAD];
            checkSameBits(kernels, weights, x, out, check);
            System.out.printf(Locale.ROOT, "%s, %d layers, %s, %s, %d thread(s); µs per pass (kind summed over layers): median / min of "
                    + "%d passes per round%n", dir.getFileName(), layers, kernels.description(), weights.placement(), threads, passes);
            System.out.println("| round | setting | matrix | 1 token | 4 tokens | 4 × 1 token | 4 tokens / 1 (medians) | 4 × 1 / 1 |");
            System.out.println("|---|---|---|---|---|---|---|---|");
            for (int round = 0; round <= rounds; round++) {
                // [setting][mode][kind][pass]
                long[][][][] t = new long[2][MODES.length][KINDS.length][passes];
                for (int pass = 0; pass < passes; pass++) {
                    for (int mode = 0; mode < MODES.length; mode++) {
                        for (int l = 0; l < layers; l++) {
                            CpuWeights.Layer w = weights.layer(l);
                            PackedMatrix[] ms = {w.wqkv(), w.wo(), w.gate(), w.up(), w.down()};
                            for (int k = 0; k < ms.length; k++) {
                                t[0][mode][k][pass] += call(kernels, mode, x, ms[k], out);
                            }
                        }
                        t[0][mode][5][pass] = call(kernels, mode, x, weights.lmHead(), out);
                    }
                    for (int mode = 0; mode < MODES.length; mode++) {
                        CpuWeights.Layer w = weights.layer(0);
                        PackedMatrix[] ms = {w.wqkv(), w.wo(), w.gate(), w.up(), w.down(), weights.lmHead()};
                        for (int k = 0; k < ms.length; k++) {
                            PackedMatrix m = ms[k];
                            int panels = k == 5 ? m.panels() / 2 : m.panels();
                            call(kernels, mode, x, m, panels, out);
                            call(kernels, mode, x, m, panels, out);
                            t[1][mode][k][pass] = call(kernels, mode, x, m, panels, out) * (k == 5 ? 1 : layers);
                        }
                    }
                }
                sink += out[3];
                if (round == 0) {
                    continue; // JIT warm-up
                }
                for (int setting = 0; setting < 2; setting++) {
                    for (int k = 0; k < KINDS.length; k++) {
                        StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "| %d | %s | %s |", round,
                                setting == 0 ? "in pass order" : "cached" + (k == 5 ? " (half the panels)" : " (× layers)"),
                                KINDS[k]));
                        double[] med = new double[MODES.length];
                        for (int mode = 0; mode < MODES.length; mode++) {
                            long[] s = t[setting][mode][k].clone();
                            Arrays.sort(s);
                            med[mode] = s[s.length / 2];
                            line.append(String.format(Locale.ROOT, " %.1f / %.1f |", med[mode] / 1e3, s[0] / 1e3));
                        }
                        line.append(String.format(Locale.ROOT, " %.2f× | %.2f× |", med[1] / med[0], med[2] / med[0]));
                        System.out.println(line);
                    }
                }
            }
        }
        if (sink == 42) {
            System.out.println(); // keeps the results alive
        }
    }

    private static double sink;
    private static ParallelLoops loops;

    private static long call(Kernels kernels, int mode, float[] x, PackedMatrix m, float[] out) {
        return call(kernels, mode, x, m, m.panels(), out);
    }

    /** Nanoseconds of one call of {@code mode} over panels {@code [0, panels)} of {@code m}. */
    private static long call(Kernels kernels, int mode, float[] x, PackedMatrix m, int panels, float[] out) {
        int rows = m.rows();
        long t0 = System.nanoTime();
        switch (mode) {
            case 0, 1 -> {
                int tokens = mode == 0 ? 1 : 4;
                if (panels == m.panels()) {
                    loops.matmul(x, tokens, m, out, rows, 0); // split over the threads as a pass splits it
                } else {
                    kernels.matmul(x, 0, tokens, m, 0, panels, out, rows, 0);
                }
            }
            default -> {
                for (int p = 0; p < panels; p++) {
                    for (int tok = 0; tok < 4; tok++) {
                        kernels.matmul(x, tok, tok + 1, m, p, p + 1, out, rows, 0);
                    }
                }
            }
        }
        return System.nanoTime() - t0;
    }

    /** The 4 × 1 mode computes the bits of the four-token kernel (a token's outputs do not depend on its batch). */
    private static void checkSameBits(Kernels kernels, CpuWeights weights, float[] x, float[] a, float[] b) {
        PackedMatrix m = weights.layer(0).down();
        call(kernels, 1, x, m, a);
        call(kernels, 2, x, m, b);
        for (int i = 0; i < 4 * m.rows(); i++) {
            if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
                throw new IllegalStateException("4 × 1 token differs from 4 tokens at " + i + ": " + b[i] + " vs " + a[i]);
            }
        }
    }
}
