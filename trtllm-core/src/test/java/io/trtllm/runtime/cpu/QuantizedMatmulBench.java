package io.trtllm.runtime.cpu;

import io.trtllm.model.DType;
import io.trtllm.model.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * One thread's matmul speed by weight format and token count, on stories15M's matrix shapes: F32, INT8 and INT4
 * panels through {@link VectorKernels#matmul} (INT4 twice: float32 activations, and int8 ones, {@link W4A8}),
 * the formats interleaved inside every round so that a busy machine
 * slows all three alike. Prints, per shape and token count, the best round's nanoseconds per call and each
 * quantized format's speed relative to F32 (above 1: faster). A benchmark, not a test.
 *
 * <p>Run: {@code scripts/bench-quantized-matmul.sh [rounds]} (docs/PERFORMANCE.md).
 */
public final class QuantizedMatmulBench {
    /** stories15M's matmul shapes (rows × cols): qkv, wo, gate (and up), down, the head. */
    private static final int[][] SHAPES = {{864, 288}, {288, 288}, {768, 288}, {288, 768}, {32000, 288}};
    private static final int[] TOKENS = {1, 4, 8, 16, 32, 64, 128};
    private static final PackedMatrix.Format[] FORMATS = {PackedMatrix.Format.F32, PackedMatrix.Format.INT8, PackedMatrix.Format.INT4};

    private QuantizedMatmulBench() {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        Kernels kernels = new VectorKernels(false);
        Kernels w4a8 = new VectorKernels(true);
        var rnd = new SplittableRandom(7);
        System.out.printf(Locale.ROOT, "%s, 1 thread, best of %d rounds; ratio = F32 ns / format ns%n", kernels.description(), rounds);
        System.out.println("| shape | tokens | F32 µs | INT8 µs | INT4 µs | INT4 W4A8 µs | INT8 vs F32 | INT4 vs F32 | W4A8 vs F32 |");
        System.out.println("|---|---|---|---|---|---|---|---|---|");
        // A first pass over every case untimed: the JIT compiles each kernel before any is measured.
        run(kernels, w4a8, rnd, 1, false);
        run(kernels, w4a8, rnd, rounds, true);
    }

    private static void run(Kernels kernels, Kernels w4a8, SplittableRandom rnd, int rounds, boolean print) {
        for (int[] shape : SHAPES) {
            int rows = shape[0];
            int cols = shape[1];
            WeightMatrix w = KernelsTestsSupport.random(rows, cols, rnd);
            List<PackedMatrix> packed = new ArrayList<>();
            for (PackedMatrix.Format f : FORMATS) {
                packed.add(f == PackedMatrix.Format.F32 ? PackedMatrix.pack(Arena.ofAuto(), kernels.panelRows(), w)
                        : KernelsTestsSupport.quantize(f, w, kernels.panelRows()));
            }
            for (int tokens : TOKENS) {
                if (rows == 32000 && tokens > 64) {
                    continue;
                }
                float[] x = new float[tokens * cols];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
                float[] out = new float[tokens * rows];
                long[] best = new long[FORMATS.length + 1];
                java.util.Arrays.fill(best, Long.MAX_VALUE);
                long macs = (long) tokens * rows * cols;
                int reps = (int) Math.max(3, Math.min(20_000, 40_000_000L / macs));
                for (int r = 0; r < rounds + 2; r++) { // two rounds of warm-up
                    for (int f = 0; f <= FORMATS.length; f++) {
                        PackedMatrix m = packed.get(Math.min(f, FORMATS.length - 1)); // the last: INT4 as W4A8
                        Kernels k = f == FORMATS.length ? w4a8 : kernels;
                        long t0 = System.nanoTime();
                        for (int i = 0; i < reps; i++) {
                            k.matmul(x, tokens, m, 0, m.panels(), out, rows, 0);
                        }
                        long ns = (System.nanoTime() - t0) / reps;
                        if (r >= 2) {
                            best[f] = Math.min(best[f], ns);
                        }
                    }
                }
                if (!print) {
                    continue;
                }
                System.out.printf(Locale.ROOT, "| %d × %d | %d | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f |%n", rows, cols,
                        tokens, best[0] / 1e3, best[1] / 1e3, best[2] / 1e3, best[3] / 1e3, (double) best[0] / best[1],
                        (double) best[0] / best[2], (double) best[0] / best[3]);
            }
        }
    }

    /** What the bench shares with {@code KernelsTests}, without JUnit on the class path. */
    static final class KernelsTestsSupport {
        private KernelsTestsSupport() {
        }

        static WeightMatrix random(int rows, int cols, SplittableRandom rnd) {
            MemorySegment seg = Arena.ofAuto().allocate((long) rows * cols * 4);
            for (long i = 0; i < (long) rows * cols; i++) {
                seg.set(WeightMatrix.F32, i * 4, (float) rnd.nextGaussian());
            }
            return new WeightMatrix("w", DType.F32, rows, cols, seg);
        }

        /** {@code w} quantized to INT8 or INT4 in panels of {@code panelRows}, as an engine stores it. */
        static PackedMatrix quantize(PackedMatrix.Format format, WeightMatrix w, int panelRows) {
            Tensor t = new Tensor(w.name(), w.dtype(), new long[] {w.rows(), w.cols()}, w.data());
            Arena arena = Arena.ofAuto();
            int panels = PanelLayout.panels(w.rows(), panelRows);
            if (format == PackedMatrix.Format.INT8) {
                MemorySegment q = arena.allocate((long) panels * w.cols() * panelRows, 64);
                MemorySegment s = arena.allocate((long) panels * panelRows * 4, 64);
                PanelLayout.writeInt8(t, panelRows, q);
                PanelLayout.writeInt8Scales(t, panelRows, s);
                return PackedMatrix.of(w.name(), format, w.rows(), w.cols(), panelRows, w.cols(), q, s);
            }
            int group = PanelLayout.int4GroupSize(w.name(), w.cols());
            MemorySegment q = arena.allocate((long) panels * w.cols() * panelRows / 2, 64);
            MemorySegment s = arena.allocate((long) panels * (w.cols() / group) * panelRows * 4, 64);
            float[] scales = PanelLayout.int4Scales(t, group);
            PanelLayout.writeInt4(t, panelRows, group, scales, q);
            PanelLayout.writeInt4Scales(t, panelRows, group, scales, s);
            return PackedMatrix.of(w.name(), format, w.rows(), w.cols(), panelRows, group, q, s);
        }
    }
}
