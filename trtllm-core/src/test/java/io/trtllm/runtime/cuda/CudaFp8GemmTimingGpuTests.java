package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.assertj.core.api.Assertions.assertThat;
import static org.bytedeco.cuda.global.cudart.cudaGraphDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphExecDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphInstantiate;
import static org.bytedeco.cuda.global.cudart.cudaGraphLaunch;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamBeginCapture;
import static org.bytedeco.cuda.global.cudart.cudaStreamCaptureModeThreadLocal;
import static org.bytedeco.cuda.global.cudart.cudaStreamEndCapture;

import io.trtllm.runtime.cuda.DeviceMatrix.Format;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Where the time of an FP8 W8A8 projection goes at many rows (a benchmark: recorded, not asserted beyond sanity), on
 * Llama-3.1-8B's shapes at 16, 256, 2,048 and 8,192 rows: the activation quantization kernels (with the bytes they
 * move), each projection's cuBLASLt E4M3 GEMM alone (unit scales, F32 out) with F32 promotion of the partial sums
 * and with fast accumulation, the heuristic's first algorithm and the fastest of its candidates by measurement,
 * {@code f8_epilogue} alone, the whole {@link Fp8Gemm#matmul} and BF16 cuBLAS; and one decoder layer's projection
 * chain as the runner enqueues it — BF16; FP8 as on main before this branch (F32 promotion, gate|up scaled by
 * {@code f8_epilogue}, then {@code silu_mul_f8}); FP8 now (fast accumulation, gate|up's scales folded into
 * {@code silu_mul_f8_raw}); and now with measured algorithms. Weights and activations are random (E4M3 codes
 * without NaN, BF16 in [-1, 1)): constant data draws less power and clocks higher than real weights would.
 * Times: CUDA graphs of a few calls, median of 5 launches (like {@code CudaGemvGpuTests.Device#micros}, with fewer
 * calls: a BF16 gate|up at 8,192 rows takes milliseconds).
 */
@Tag("gpu")
class CudaFp8GemmTimingGpuTests {
    private static final int DIM = 4096;
    private static final int INTER = 14336;
    private static final int QKV = 6144;
    private static final int MAX_ROWS = 8192;
    private static final int REPEATS = 5;
    /** Bytes of the random block that weights and activations are tiled from. */
    private static final int BLOCK = 16 << 20;

    @Test
    void recordsFp8PiecesAndLayerChainsAtManyRows() {
        Assumptions.assumeTrue(KernelSource.supportsFp8(CudaDevice.query(0).smArch()), "FP8 needs sm_89 or newer");
        try (var d = new CudaGemvGpuTests.Device();
             KernelModule kernels = new KernelModule(CudaDevice.query(0).smArch(), List.of("DIM=" + DIM, "HEAD_DIM=128",
                     "N_HEADS=32", "N_KV_HEADS=8", "INTER=" + INTER, "EPS=1e-5f", "WINDOW=0", "HAS_QKV_BIAS=0",
                     "HAS_QK_NORM=0", "KV_BF16=1"));
             Arena arena = Arena.ofConfined()) {
            long workspace = d.alloc(32L << 20);
            // random E4M3 codes (bit 3 cleared: never 0x7f / 0xff, the NaNs) and random BF16 values, to tile from
            MemorySegment host = arena.allocate(BLOCK, 64);
            for (long i = 0; i < BLOCK; i++) {
                host.set(ValueLayout.JAVA_BYTE, i, (byte) (Float.floatToRawIntBits(CudaGemvGpuTests.uniform(31, i)) & 0xf7));
            }
            long codeBlock = d.alloc(BLOCK);
            check(cudaMemcpy(at(codeBlock), at(host.address()), BLOCK, cudaMemcpyHostToDevice), "cudaMemcpy");
            long bf16Block = d.alloc(BLOCK);
            d.uploadBf16(bf16Block, BLOCK / Short.BYTES, 32);

            int[][] shapes = {{QKV, DIM}, {DIM, DIM}, {2 * INTER, DIM}, {DIM, INTER}};
            String[] names = {"qkv", "o", "gate_up", "down"};
            DeviceMatrix[] f8 = new DeviceMatrix[4];
            long[] bf = new long[4];
            for (int m = 0; m < 4; m++) {
                int out = shapes[m][0];
                int in = shapes[m][1];
                long codes = d.alloc((long) out * in);
                tile(d, codes, (long) out * in, codeBlock);
                long scales = d.alloc((long) out * Float.BYTES);
                d.uploadF32(scales, out, 10 + m);
                f8[m] = new DeviceMatrix(codes, scales, Format.FP8, out, in, in);
                bf[m] = d.alloc((long) out * in * Short.BYTES);
                tile(d, bf[m], (long) out * in * Short.BYTES, bf16Block);
            }
            long x = d.alloc((long) MAX_ROWS * DIM * Float.BYTES);
            long xn = d.alloc((long) MAX_ROWS * DIM * Short.BYTES);
            long att = d.alloc((long) MAX_ROWS * DIM * Short.BYTES);
            long qkv = d.alloc((long) MAX_ROWS * QKV * Float.BYTES);
            long gateUp = d.alloc((long) MAX_ROWS * 2 * INTER * Float.BYTES);
            long hidden = d.alloc((long) MAX_ROWS * INTER * Short.BYTES);
            long q8 = d.alloc((long) MAX_ROWS * INTER);
            long q8s = d.alloc((long) MAX_ROWS * Float.BYTES);
            long q8s2 = d.alloc((long) MAX_ROWS * Float.BYTES);
            long norm = d.alloc((long) DIM * Float.BYTES);
            d.uploadF32(x, (long) MAX_ROWS * DIM, 21);
            tile(d, xn, (long) MAX_ROWS * DIM * Short.BYTES, bf16Block);
            tile(d, att, (long) MAX_ROWS * DIM * Short.BYTES, bf16Block);
            tile(d, hidden, (long) MAX_ROWS * INTER * Short.BYTES, bf16Block);
            tile(d, q8, (long) MAX_ROWS * INTER, codeBlock);
            d.uploadF32(norm, DIM, 25);
            d.uploadF32(q8s, MAX_ROWS, 26);
            CUfunc_st rmsnorm = kernels.function("rmsnorm");
            CUfunc_st rmsnormF8 = kernels.function("rmsnorm_f8");
            CUfunc_st siluMul = kernels.function("silu_mul");
            CUfunc_st siluMulF8 = kernels.function("silu_mul_f8");
            CUfunc_st siluMulF8Raw = kernels.function("silu_mul_f8_raw");
            CUfunc_st quantF8 = kernels.function("quant_f8");
            CUfunc_st epilogue = kernels.function("f8_epilogue");
            // The quantized prefill path's dequantization into the BF16 scratch, 4,096 rows of 4,096 (int8 / fp8 codes:
            // the random block, 16 MiB; int4 in groups of 128): bytes read and written per µs.
            int dqRows = BLOCK / DIM;
            long scratch = d.alloc((long) dqRows * DIM * Short.BYTES);
            long dqScales = d.alloc((long) dqRows * (DIM / 128) * Float.BYTES);
            d.uploadF32(dqScales, (long) dqRows * (DIM / 128), 27);
            StringBuilder dq = new StringBuilder();
            for (String name : List.of("dequant_i8", "dequant_f8", "dequant_i4")) {
                CUfunc_st fn = kernels.function(name);
                boolean int4 = name.equals("dequant_i4");
                double t = micros(d, 10, i -> {
                    kernels.args().ptr(codeBlock).ptr(dqScales).ptr(scratch).i64(0).i32(DIM);
                    if (int4) {
                        kernels.i32(128);
                    }
                    kernels.launch(fn, name, dqRows, 1, 256, d.stream);
                });
                long bytes = (long) ((double) dqRows * DIM * (int4 ? 2.5 : 3.0));
                dq.append(String.format("%s %.1f us (%.0f GB/s); ", name, t, gbps(bytes, t)));
            }
            GpuResults.record("dequantization of %d x %d weights into the BF16 scratch: %s", dqRows, DIM, dq.toString().strip());
            d.free(scratch, dqScales);
            try (var before = new Fp8Gemm(kernels, d.stream, workspace, 32L << 20, true, false, false);
                 var fast = new Fp8Gemm(kernels, d.stream, workspace, 32L << 20, true, false, true);
                 var fastMeasured = new Fp8Gemm(kernels, d.stream, workspace, 32L << 20, true, true, true)) {
                for (int rows : new int[] {16, 256, 2048, 8192}) {
                    int calls = rows >= 2048 ? 4 : 30;
                    // gate|up's raw product is reused as the activations of silu_mul*: fill it with values once
                    fast.matmulDeferred(f8[2], q8, q8s, gateUp, rows);
                    d.sync();
                    double tNorm = micros(d, calls, i -> kernels.args().ptr(x).ptr(norm).ptr(q8).ptr(q8s)
                            .launch(rmsnormF8, "rmsnorm_f8", rows, 1, 256, d.stream));
                    double tQuant = micros(d, calls, i -> kernels.args().ptr(att).i32(DIM).ptr(q8).ptr(q8s)
                            .launch(quantF8, "quant_f8", rows, 1, 256, d.stream));
                    double tSilu = micros(d, calls, i -> kernels.args().ptr(gateUp).ptr(q8).ptr(q8s2)
                            .launch(siluMulF8, "silu_mul_f8", rows, 1, 256, d.stream));
                    double tSiluRaw = micros(d, calls, i -> kernels.args().ptr(gateUp).ptr(q8s).ptr(f8[2].scales()).ptr(q8)
                            .ptr(q8s2).launch(siluMulF8Raw, "silu_mul_f8_raw", rows, 1, 256, d.stream));
                    d.uploadF32(q8s, MAX_ROWS, 26);  // rmsnorm_f8 / quant_f8 rewrote the scales
                    GpuResults.record("fp8 pieces %d rows: rmsnorm_f8 %.1f us (%.0f GB/s), quant_f8 %.1f us (%.0f GB/s), "
                                    + "silu_mul_f8 %.1f us (%.0f GB/s), silu_mul_f8_raw %.1f us (%.0f GB/s)", rows,
                            tNorm, gbps((long) rows * DIM * 5, tNorm), tQuant, gbps((long) rows * DIM * 3, tQuant),
                            tSilu, gbps((long) rows * INTER * 9, tSilu), tSiluRaw, gbps((long) rows * INTER * 9, tSiluRaw));
                    for (int m = 0; m < 4; m++) {
                        DeviceMatrix w = f8[m];
                        long wb = bf[m];
                        int out = shapes[m][0];
                        int in = shapes[m][1];
                        boolean acc = m == 1 || m == 3;
                        long input = m == 3 ? hidden : xn;
                        long dst = m == 2 ? gateUp : acc ? x : qkv;
                        long raw = acc ? qkv : dst;  // the accumulating ones' raw scratch (the runner: gateUp)
                        double tBf = micros(d, calls, i -> d.cublas(wb, input, dst, out, in, rows, acc));
                        double tPrecise = micros(d, calls, i -> before.matmulDeferred(w, q8, q8s, raw, rows));
                        double tFast = micros(d, calls, i -> fast.matmulDeferred(w, q8, q8s, raw, rows));
                        double tMeasured = micros(d, calls, i -> fastMeasured.matmulDeferred(w, q8, q8s, raw, rows));
                        double tEpilogue = micros(d, calls, i -> kernels.args().ptr(raw).ptr(q8s).ptr(w.scales()).ptr(dst)
                                .i32(out).i32(acc ? 1 : 0).launch(epilogue, "f8_epilogue", rows, 1, 256, d.stream));
                        double tBefore = micros(d, calls, i -> before.matmul(w, q8, q8s, dst, rows, acc, raw));
                        double tNow = micros(d, calls, i -> fast.matmul(w, q8, q8s, dst, rows, acc, raw));
                        double flops = 2.0 * rows * out * in;
                        GpuResults.record("fp8 gemm pieces 8B %s %dx%d, %d rows: BF16 cuBLAS %.1f us (%.0f TFLOP/s); FP8 GEMM "
                                        + "alone (%s): F32 promotion %.1f us (%.0f TFLOP/s), fast accumulation %.1f us (%.0f "
                                        + "TFLOP/s), fast + measured algorithm %.1f us (%.0f TFLOP/s); f8_epilogue %.1f us "
                                        + "(%.0f GB/s); GEMM + scales before %.1f us (x%.2f of BF16), now %.1f us (x%.2f)",
                                names[m], out, in, rows, tBf, tflops(flops, tBf), fast.scaling(out, in, rows, false),
                                tPrecise, tflops(flops, tPrecise), tFast, tflops(flops, tFast), tMeasured,
                                tflops(flops, tMeasured), tEpilogue, gbps((long) rows * out * 4 * (acc ? 3 : 2), tEpilogue),
                                tBefore, tBf / tBefore, tNow, tBf / tNow);
                        assertThat(tFast).as("a GEMM ran").isPositive();
                    }
                    double tb = micros(d, calls, i -> {
                        kernels.args().ptr(x).ptr(0).ptr(norm).ptr(xn).launch(rmsnorm, "rmsnorm", rows, 1, 256, d.stream);
                        d.cublas(bf[0], xn, qkv, QKV, DIM, rows, false);
                        d.cublas(bf[1], att, x, DIM, DIM, rows, true);
                        kernels.args().ptr(x).ptr(0).ptr(norm).ptr(xn).launch(rmsnorm, "rmsnorm", rows, 1, 256, d.stream);
                        d.cublas(bf[2], xn, gateUp, 2 * INTER, DIM, rows, false);
                        kernels.args().ptr(gateUp).ptr(hidden).launch(siluMul, "silu_mul", rows, 1, 256, d.stream);
                        d.cublas(bf[3], hidden, x, DIM, INTER, rows, true);
                    });
                    d.uploadF32(x, (long) rows * DIM, 21);  // the BF16 chain's residual grew
                    double tOld = micros(d, calls, i -> {
                        kernels.args().ptr(x).ptr(norm).ptr(q8).ptr(q8s).launch(rmsnormF8, "rmsnorm_f8", rows, 1, 256, d.stream);
                        before.matmul(f8[0], q8, q8s, qkv, rows, false, qkv);
                        kernels.args().ptr(att).i32(DIM).ptr(q8).ptr(q8s).launch(quantF8, "quant_f8", rows, 1, 256, d.stream);
                        before.matmul(f8[1], q8, q8s, x, rows, true, gateUp);
                        kernels.args().ptr(x).ptr(norm).ptr(q8).ptr(q8s).launch(rmsnormF8, "rmsnorm_f8", rows, 1, 256, d.stream);
                        before.matmul(f8[2], q8, q8s, gateUp, rows, false, gateUp);
                        kernels.args().ptr(gateUp).ptr(q8).ptr(q8s).launch(siluMulF8, "silu_mul_f8", rows, 1, 256, d.stream);
                        before.matmul(f8[3], q8, q8s, x, rows, true, gateUp);
                    });
                    d.uploadF32(x, (long) rows * DIM, 21);
                    double tNew = micros(d, calls, i -> f8Chain(d, kernels, fast, f8, rows, x, norm, att, qkv, gateUp, q8, q8s));
                    d.uploadF32(x, (long) rows * DIM, 21);
                    double tNewMeasured = micros(d, calls,
                            i -> f8Chain(d, kernels, fastMeasured, f8, rows, x, norm, att, qkv, gateUp, q8, q8s));
                    d.uploadF32(x, (long) rows * DIM, 21);
                    GpuResults.record("fp8 layer projections 8B, %d rows: BF16 cuBLAS chain %.1f us; FP8 W8A8 chain before %.1f us "
                                    + "(x%.2f of BF16), now %.1f us (x%.2f), now with measured algorithms %.1f us (x%.2f); x32 "
                                    + "layers: BF16 %.2f ms, FP8 before %.2f ms, now %.2f ms", rows, tb, tOld, tb / tOld, tNew,
                            tb / tNew, tNewMeasured, tb / tNewMeasured, 32 * tb / 1e3, 32 * tOld / 1e3, 32 * tNew / 1e3);
                }
            }
        }
    }

    /** The runner's FP8 W8A8 projection chain of one layer as this branch enqueues it (CudaModelRunner.enqueue). */
    private static void f8Chain(CudaGemvGpuTests.Device d, KernelModule kernels, Fp8Gemm gemm, DeviceMatrix[] f8, int rows,
                                long x, long norm, long att, long qkv, long gateUp, long q8, long q8s) {
        kernels.args().ptr(x).ptr(norm).ptr(q8).ptr(q8s).launch(kernels.function("rmsnorm_f8"), "rmsnorm_f8", rows, 1, 256,
                d.stream);
        gemm.matmul(f8[0], q8, q8s, qkv, rows, false, qkv);
        kernels.args().ptr(att).i32(DIM).ptr(q8).ptr(q8s).launch(kernels.function("quant_f8"), "quant_f8", rows, 1, 256,
                d.stream);
        gemm.matmul(f8[1], q8, q8s, x, rows, true, gateUp);
        kernels.args().ptr(x).ptr(norm).ptr(q8).ptr(q8s).launch(kernels.function("rmsnorm_f8"), "rmsnorm_f8", rows, 1, 256,
                d.stream);
        if (gemm.matmulDeferred(f8[2], q8, q8s, gateUp, rows)) {
            kernels.args().ptr(gateUp).ptr(q8s).ptr(f8[2].scales()).ptr(q8).ptr(q8s)
                    .launch(kernels.function("silu_mul_f8_raw"), "silu_mul_f8_raw", rows, 1, 256, d.stream);
        } else {
            kernels.args().ptr(gateUp).ptr(q8).ptr(q8s).launch(kernels.function("silu_mul_f8"), "silu_mul_f8", rows, 1, 256,
                    d.stream);
        }
        gemm.matmul(f8[3], q8, q8s, x, rows, true, gateUp);
    }

    /** Fills {@code bytes} at {@code dst} with copies of the random block. */
    private static void tile(CudaGemvGpuTests.Device d, long dst, long bytes, long block) {
        for (long off = 0; off < bytes; off += BLOCK) {
            d.copy(dst + off, block, Math.min(BLOCK, bytes - off));
        }
    }

    private static double tflops(double flops, double micros) {
        return flops / micros / 1e6;
    }

    private static double gbps(long bytes, double micros) {
        return bytes / micros / 1e3;
    }

    /** Median µs per call of {@code launch(i)}, i = 0..calls-1 captured as one CUDA graph (first run eagerly). */
    static double micros(CudaGemvGpuTests.Device d, int calls, IntConsumer launch) {
        launch.accept(0);  // cuBLAS(Lt) picks (and Fp8Gemm may time) its kernel outside the capture
        d.sync();
        CUgraph_st graph = new CUgraph_st();
        CUgraphExec_st exec = new CUgraphExec_st();
        check(cudaStreamBeginCapture(d.stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
        try {
            for (int i = 0; i < calls; i++) {
                launch.accept(i);
            }
        } finally {
            check(cudaStreamEndCapture(d.stream, graph), "cudaStreamEndCapture");
        }
        try {
            check(cudaGraphInstantiate(exec, graph, 0L), "cudaGraphInstantiate");
        } finally {
            cudaGraphDestroy(graph);
        }
        try {
            check(cudaGraphLaunch(exec, d.stream), "cudaGraphLaunch");
            d.sync();
            double[] times = new double[REPEATS];
            for (int r = 0; r < REPEATS; r++) {
                long start = System.nanoTime();
                check(cudaGraphLaunch(exec, d.stream), "cudaGraphLaunch");
                d.sync();
                times[r] = (System.nanoTime() - start) / 1e3 / calls;
            }
            Arrays.sort(times);
            return times[REPEATS / 2];
        } finally {
            cudaGraphExecDestroy(exec);
        }
    }
}
