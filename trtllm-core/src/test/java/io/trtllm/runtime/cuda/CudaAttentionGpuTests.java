package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.assertj.core.api.Assertions.assertThat;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemset;

import io.trtllm.model.TensorConversion;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.runtime.cuda.CudaGemvGpuTests.Device;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The attention kernels of kernels.cu on the GPU, launched directly over a paged cache of random
 * values: {@code attention_tc} (tensor-core tiles of prefill rows) and {@code attention_decode} +
 * {@code attention_reduce} (decode rows, split over long contexts), as {@link AttentionPlan} assigns
 * rows to them, against the row kernel {@code attention} and a float64 reference. Cases: prefill,
 * chunked prefill (rows starting mid-sequence), decode, long decode (4k and 8k positions: the split
 * path), lengths around the block size (16) and the tile sizes (64), GQA groups of 1, 4 and 8, head
 * dims 64 and 128, a sliding window, F16 as well as BF16. Then batch invariance (every row bit-equal
 * alone and batched, and whatever chunk of its sequence it comes in) and µs per layer call of the new
 * kernels against the row kernel on Llama-3.1-8B's attention shape. Needs an NVIDIA GPU (tag {@code gpu}).
 *
 * <p>Bounds, per output element, against float64 softmax(q·Kᵀ/√d)·V over the same 16-bit K and V:
 * <ul>
 * <li>row kernel and split decode (f32 q, f32 math, output rounded to 16 bits):
 *     {@code |out − ref| ≤ 2⁻⁸·|ref| + 2⁻¹²·max|v|};
 * <li>tensor-core tiles, against the reference computed with q rounded to the 16-bit type as the kernel
 *     rounds it: each probability is rounded to 16 bits (relative 2⁻⁹ for BF16) before P·V, the output too:
 *     {@code |out − ref| ≤ 2⁻⁸·|ref| + 2⁻⁸·max|v|}; against the f32-q reference the difference is recorded;
 * <li>{@code attention_decode_gqa} (the runner's decode kernel) and {@code attention_decode} (one block per
 *     head, {@code trtllm.cuda.attention=split}): the row kernel's bound, split or not (how many elements of
 *     unsplit {@code attention_decode} rows differ in bits from the row kernel, which runs the same code, is recorded).
 * </ul>
 */
@Tag("gpu")
class CudaAttentionGpuTests {
    static final int BLOCK = 16;

    /** An attention shape: {@code kvHeads × group} query heads of {@code headDim}, a window (0: none). */
    record Shape(String name, int headDim, int kvHeads, int group, int window, boolean f16) {
        int heads() {
            return kvHeads * group;
        }

        int qkvDim() {
            return (heads() + 2 * kvHeads) * headDim;
        }

        int kvDim() {
            return kvHeads * headDim;
        }

        List<String> defines() {
            return defines(8);
        }

        /** The defines with attention_fa's FA_WARPS (8: 128-row tiles, the runner's; 4: 64-row tiles). */
        List<String> defines(int faWarps) {
            return List.of("FA_WARPS=" + faWarps, "DIM=64", "HEAD_DIM=" + headDim, "N_HEADS=" + heads(), "N_KV_HEADS=" + kvHeads, "INTER=64",
                    "EPS=1e-5f", "WINDOW=" + window, "HAS_QKV_BIAS=0", "HAS_QK_NORM=0",
                    f16 ? "WEIGHT_F16=1" : "WEIGHT_F16=0", f16 ? "KV_F16=1" : "KV_BF16=1");
        }

        float toFloat(short h) {
            return f16 ? Float.float16ToFloat(h) : Float.intBitsToFloat(h << 16);
        }

        short fromFloat(float f) {
            return f16 ? Float.floatToFloat16(f) : TensorConversion.toBfloat16(f);
        }
    }

    /** A chunk of a pass: {@code length} query rows from position {@code start} of its own sequence. */
    record Part(int start, int length) {
    }

    static final List<Shape> SHAPES = List.of(
            new Shape("d64 mha", 64, 2, 1, 0, false),
            new Shape("d128 gqa4", 128, 2, 4, 0, false),
            new Shape("d128 gqa8", 128, 1, 8, 0, false),
            new Shape("d128 gqa4 window 300", 128, 2, 4, 300, false),
            new Shape("d64 gqa4 f16 window 100", 64, 2, 4, 100, true));

    static final List<Part> PREFILL = List.of(new Part(0, 1), new Part(0, 2), new Part(0, 15), new Part(0, 16),
            new Part(0, 17), new Part(0, 63), new Part(0, 64), new Part(0, 65), new Part(0, 200));
    static final List<Part> CHUNKED = List.of(new Part(100, 37), new Part(255, 2), new Part(31, 64), new Part(1000, 129),
            new Part(319, 18), new Part(64, 64));
    static final List<Part> DECODE = List.of(new Part(0, 1), new Part(15, 1), new Part(16, 1), new Part(255, 1),
            new Part(256, 1), new Part(300, 1), new Part(1023, 1));
    static final List<Part> LONG = List.of(new Part(4095, 1), new Part(8191, 1), new Part(4000, 70), new Part(6000, 1));

    @Test
    void newKernelsMatchTheRowKernelAndAFloat64Reference() {
        try (Device d = new Device()) {
            for (Shape shape : SHAPES) {
                try (KernelModule module = new KernelModule(CudaDevice.query(0).smArch(), shape.defines())) {
                    Kernels k = new Kernels(module, shape);
                    for (var c : List.of(List.of("prefill", PREFILL), List.of("chunked prefill", CHUNKED),
                            List.of("decode", DECODE), List.of("long", LONG))) {
                        @SuppressWarnings("unchecked")
                        List<Part> parts = (List<Part>) c.get(1);
                        try (Pass pass = new Pass(d, shape, parts, 15 + parts.size())) {
                            checkPass(pass, k, (String) c.get(0));
                        }
                    }
                }
            }
        }
    }

    @Test
    void rowsComputeTheSameAloneBatchedAndInAnyChunk() {
        try (Device d = new Device()) {
            for (Shape shape : List.of(SHAPES.get(1), SHAPES.get(3))) {
                try (KernelModule module = new KernelModule(CudaDevice.query(0).smArch(), shape.defines())) {
                    Kernels k = new Kernels(module, shape);
                    List<Part> batch = List.of(new Part(0, 200), new Part(4095, 1), new Part(300, 1), new Part(100, 37),
                            new Part(0, 1));
                    for (int mode = 0; mode < 3; mode++) {
                        boolean gqa = mode > 0;
                        k.gqa = gqa;
                        k.fa = mode == 2;  // attention_fa's tiles (128 rows) with the gqa decode kernel
                        try (Pass pass = new Pass(d, shape, batch, 7)) {
                            short[] batched = pass.runNew(k);
                            int row = 0;
                            for (int s = 0; s < batch.size(); s++) {
                                short[] alone = pass.runNewOn(k, List.of(s));
                                int n = batch.get(s).length() * shape.heads() * shape.headDim();
                                for (int i = 0; i < n; i++) {
                                    assertThat(alone[i]).as("%s: part %d alone, element %d", shape.name(), s, i)
                                            .isEqualTo(batched[row * shape.heads() * shape.headDim() + i]);
                                }
                                row += batch.get(s).length();
                            }
                            // The 200-row prompt again as chunks [0, 77) and [77, 200) of the same sequence.
                            short[] split = pass.runChunks(k, 0, 77);
                            int n = 200 * shape.heads() * shape.headDim();
                            int differ = 0;
                            for (int i = 0; i < n; i++) {
                                differ += split[i] != batched[i] ? 1 : 0;
                            }
                            GpuResults.record("attention %s (decode kernel %s, tiles %s): batched vs alone bit-equal; prompt of "
                                    + "200 as 77 + 123 rows: %d of %d elements differ", shape.name(), gqa ? "gqa" : "per head",
                                    k.fa ? "attention_fa" : "attention_tc", differ, n);
                            assertThat(differ).isZero();
                        }
                    }
                    k.fa = false;
                }
            }
        }
    }

    /** µs per layer call on Llama-3.1-8B's attention (32 heads, 8 KV heads of 128): row kernel vs new kernels. */
    @Test
    void llama8bShapeTimes() {
        Shape shape = new Shape("llama-3.1-8b", 128, 8, 4, 0, false);
        record Case(String name, List<Part> parts) {
        }
        List<Case> cases = List.of(
                new Case("prefill 1 x 2048", List.of(new Part(0, 2048))),
                new Case("prefill 16 x 128", nCopies(16, new Part(0, 128))),
                new Case("prefill 64 x 128", nCopies(64, new Part(0, 128))),
                new Case("chunk 512 @ 1536", List.of(new Part(1536, 512))),
                new Case("decode 1 @ 160", nCopies(1, new Part(159, 1))),
                new Case("decode 1 @ 256", nCopies(1, new Part(255, 1))),
                new Case("decode 8 @ 256", nCopies(8, new Part(255, 1))),
                new Case("decode 64 @ 256", nCopies(64, new Part(255, 1))),
                new Case("decode 256 @ 256", nCopies(256, new Part(255, 1))),
                new Case("decode 1 @ 8192", nCopies(1, new Part(8191, 1))),
                new Case("decode 64 @ 2048", nCopies(64, new Part(2047, 1))));
        try (Device d = new Device();
             KernelModule module = new KernelModule(CudaDevice.query(0).smArch(), shape.defines());
             KernelModule module4 = new KernelModule(CudaDevice.query(0).smArch(), shape.defines(4))) {
            Kernels k = new Kernels(module, shape);
            Kernels k4 = new Kernels(module4, shape, 4);
            k4.fa = true;
            for (Case c : cases) {
                try (Pass pass = new Pass(d, shape, c.parts(), 3)) {
                    double rows = d.micros(i -> pass.launchRows(k));
                    AttentionPlan plan = pass.plan(allParts(c.parts().size()));
                    pass.upload(plan);
                    k.gqa = false;
                    double perHead = d.micros(i -> pass.launchNew(k, plan));
                    k.gqa = true;
                    double gqa = d.micros(i -> pass.launchNew(k, plan));
                    k.gqa = false;
                    String large = "";
                    if (plan.decodeRows().length > 0 && plan.splitKeys() == AttentionPlan.SMALL_SPLIT_KEYS) {
                        // the same pass split as a pass of many rows would be (from 256 positions): before/after
                        int most = 1;
                        for (Part p : c.parts()) {
                            most = Math.max(most, AttentionPlan.splits(p.start() + p.length()));
                        }
                        AttentionPlan wide = new AttentionPlan(plan.tiles(), plan.decodeRows(), Integer.highestOneBit(most) == most
                                ? most : Integer.highestOneBit(most) << 1, AttentionPlan.SPLIT_KEYS);
                        pass.upload(wide);
                        k.gqa = true;
                        double gqaWide = d.micros(i -> pass.launchNew(k, wide));
                        k.gqa = false;
                        large = String.format(java.util.Locale.ROOT, "; gqa split from %d positions %.1f us (%d splits)",
                                AttentionPlan.SPLIT_KEYS, gqaWide, wide.splitCap());
                    }
                    if (plan.tileCount() > 0) {
                        timeFa(d, pass, k, k4, c.name(), perHead);
                    }
                    GpuResults.record("attention llama-3.1-8b shape, %s: row kernel %.1f us, new kernels %.1f us (%.2fx; "
                            + "decode kernel gqa %.1f us; %d tiles, %d decode rows, %d splits from %d positions%s)", c.name(),
                            rows, perHead, rows / perHead, gqa, plan.tileCount(), plan.decodeRows().length, plan.splitCap(),
                            plan.splitKeys(), large);
                }
            }
        }
    }

    /**
     * The tiles of {@code pass} (all its parts) through attention_fa with 128-row tiles ({@code k}, the runner's) and
     * 64-row tiles ({@code k4}, FA_WARPS=4) against attention_tc's {@code tcMicros} (with the same decode rows, if
     * any); the two attention_fa outputs must be equal bit for bit (a row's result does not depend on its tile).
     */
    private static void timeFa(Device d, Pass pass, Kernels k, Kernels k4, String name, double tcMicros) {
        k.fa = true;
        k.gqa = false;
        k4.gqa = false;
        try {
            AttentionPlan plan = pass.plan(allParts(pass.parts.size()), k.tileRows());
            AttentionPlan plan4 = pass.plan(allParts(pass.parts.size()), k4.tileRows());
            pass.upload(plan);
            double fa8 = d.micros(i -> pass.launchNew(k, plan));
            short[] out8 = pass.runNew(k);
            pass.upload(plan4);
            double fa4 = d.micros(i -> pass.launchNew(k4, plan4));
            short[] out4 = pass.runNew(k4);
            int differ = 0;
            for (int i = 0; i < out8.length; i++) {
                differ += out8[i] != out4[i] ? 1 : 0;
            }
            long flops = 0;
            for (Part p : pass.parts) {
                for (int r = 0; r < p.length(); r++) {
                    flops += 4L * (p.start() + r + 1) * pass.shape.headDim() * pass.shape.heads();
                }
            }
            GpuResults.record("attention llama-3.1-8b shape, %s: attention_tc %.1f us, attention_fa 128-row "
                            + "tiles %.1f us (%.2fx, %.0f TFLOP/s causal), 64-row tiles %.1f us (%.2fx); 128 vs 64-row outputs: %d of %d "
                            + "elements differ", name, tcMicros, fa8, tcMicros / fa8, flops / fa8 / 1e6, fa4, tcMicros / fa4, differ,
                    out8.length);
            assertThat(differ).as("%s: attention_fa 128-row vs 64-row tiles", name).isZero();
        } finally {
            k.fa = false;
            pass.upload(pass.plan(allParts(pass.parts.size())));
        }
    }

    static List<Part> nCopies(int n, Part p) {
        return Collections.nCopies(n, p);
    }

    static List<Integer> allParts(int n) {
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            all.add(i);
        }
        return all;
    }

    private static void checkPass(Pass pass, Kernels k, String name) {
        Shape shape = pass.shape;
        int hd = shape.headDim();
        short[] rows = pass.runRows(k);
        AttentionPlan plan = pass.plan(allParts(pass.parts.size()));
        k.gqa = false;
        short[] perHead = pass.runNew(k);
        k.gqa = true;
        short[] fresh = pass.runNew(k);
        k.fa = true;
        short[] fa = pass.runNew(k);
        k.fa = false;
        boolean[] tiled = new boolean[pass.rows];
        for (int t = 0; t < plan.tileCount(); t++) {
            for (int r = 0; r < plan.tiles()[4 * t + 2]; r++) {
                tiled[plan.tiles()[4 * t + 1] + r] = true;
            }
        }
        double rowErr = 0;
        double tcErr = 0;
        double tcVsF32q = 0;
        double faErr = 0;
        int tiledElements = 0;
        int faDiffer = 0;
        double splitErr = 0;
        double gqaErr = 0;
        int splitRows = 0;
        int unsplit = 0;
        int unsplitDiffer = 0;
        for (int row = 0; row < pass.rows; row++) {
            int pos = pass.positions[row];
            int len = AttentionPlan.rangeLength(pos, shape.window());
            boolean split = !tiled[row] && AttentionPlan.splits(len, plan.splitKeys()) > 1;
            splitRows += split ? 1 : 0;
            for (int h = 0; h < shape.heads(); h++) {
                double[] ref = pass.reference(row, h, false);
                double[] refRounded = tiled[row] ? pass.reference(row, h, true) : ref;
                double maxV = pass.maxAbsV;
                for (int dd = 0; dd < hd; dd++) {
                    int i = (row * shape.heads() + h) * hd + dd;
                    double r = shape.toFloat(rows[i]);
                    double f = shape.toFloat(fresh[i]);
                    double e = Math.abs(r - ref[dd]);
                    rowErr = Math.max(rowErr, e);
                    assertThat(e).as("%s %s: row kernel, row %d (pos %d) head %d dim %d: %s vs %s", shape.name(), name, row,
                            pos, h, dd, r, ref[dd]).isLessThanOrEqualTo(Math.scalb(Math.abs(ref[dd]), -8) + Math.scalb(maxV, -12));
                    if (tiled[row]) {
                        double et = Math.abs(f - refRounded[dd]);
                        tcErr = Math.max(tcErr, et);
                        tcVsF32q = Math.max(tcVsF32q, Math.abs(f - ref[dd]));
                        assertThat(et).as("%s %s: attention_tc, row %d (pos %d) head %d dim %d: %s vs %s", shape.name(), name,
                                row, pos, h, dd, f, refRounded[dd])
                                .isLessThanOrEqualTo(Math.scalb(Math.abs(refRounded[dd]), -8) + Math.scalb(maxV, -8));
                        double fv = shape.toFloat(fa[i]);
                        double ef = Math.abs(fv - refRounded[dd]);
                        faErr = Math.max(faErr, ef);
                        tiledElements++;
                        faDiffer += fa[i] != fresh[i] ? 1 : 0;
                        assertThat(ef).as("%s %s: attention_fa, row %d (pos %d) head %d dim %d: %s vs %s", shape.name(), name,
                                row, pos, h, dd, fv, refRounded[dd])
                                .isLessThanOrEqualTo(Math.scalb(Math.abs(refRounded[dd]), -8) + Math.scalb(maxV, -8));
                    } else {
                        double ph = shape.toFloat(perHead[i]);
                        double bound = Math.scalb(Math.abs(ref[dd]), -8) + Math.scalb(maxV, -12);
                        double es = Math.abs(ph - ref[dd]);
                        double eg = Math.abs(f - ref[dd]);
                        gqaErr = Math.max(gqaErr, eg);
                        assertThat(fa[i]).as("%s %s: decode row %d head %d dim %d in the attention_fa pass", shape.name(), name,
                                row, h, dd).isEqualTo(fresh[i]);
                        if (split) {
                            splitErr = Math.max(splitErr, es);
                        } else {
                            unsplitDiffer += perHead[i] != rows[i] ? 1 : 0;
                            unsplit++;
                        }
                        assertThat(es).as("%s %s: attention_decode (%s), row %d (pos %d) head %d dim %d: %s vs %s", shape.name(),
                                name, split ? "split" : "one split", row, pos, h, dd, ph, ref[dd]).isLessThanOrEqualTo(bound);
                        assertThat(eg).as("%s %s: attention_decode_gqa (%s), row %d (pos %d) head %d dim %d: %s vs %s",
                                shape.name(), name, split ? "split" : "one split", row, pos, h, dd, f, ref[dd])
                                .isLessThanOrEqualTo(bound);
                    }
                }
            }
        }
        GpuResults.record("attention %s, %s: %d rows (%d tiles, %d decode rows of which %d split, max %d splits); max |err| vs "
                        + "float64: row kernel %.2e, tiles %.2e (vs f32-q reference %.2e), split decode %.2e, gqa decode %.2e; "
                        + "max |v| %.2f; unsplit attention_decode vs row kernel: %d of %d elements differ; attention_fa tiles "
                        + "%.2e, %d of %d tiled elements differ from attention_tc",
                shape.name(), name, pass.rows, plan.tileCount(), plan.decodeRows().length, splitRows, plan.splitCap(), rowErr,
                tcErr, tcVsF32q, splitErr, gqaErr, pass.maxAbsV, unsplitDiffer, unsplit, faErr, faDiffer, tiledElements);
    }

    /** The kernels of one module. */
    static final class Kernels {
        final KernelModule module;
        final CUfunc_st rows;
        final CUfunc_st tc;
        final CUfunc_st decode;
        final CUfunc_st decodeGqa;
        final CUfunc_st reduce;
        /** Query heads per block of attention_decode_gqa. */
        final int gqaHeads;
        final CUfunc_st faKernel;
        /** The module's FA_WARPS: attention_fa's tiles have 16 rows a warp. */
        final int faWarps;
        /** Whether {@link Pass#launchNew} sends decode rows to attention_decode_gqa (else attention_decode, the runner's default). */
        boolean gqa;
        /** Whether {@link Pass#launchNew} sends tiles to attention_fa (else attention_tc). */
        boolean fa;

        Kernels(KernelModule module, Shape shape) {
            this(module, shape, 8);
        }

        Kernels(KernelModule module, Shape shape, int faWarps) {
            this.module = module;
            this.faWarps = faWarps;
            decodeGqa = module.function("attention_decode_gqa");
            gqaHeads = AttentionPlan.decodeHeadsPerBlock(shape.group());
            rows = module.function("attention");
            tc = module.function("attention_tc");
            faKernel = module.function("attention_fa");
            decode = module.function("attention_decode");
            reduce = module.function("attention_reduce");
        }

        /** Rows per tile of the kernel {@link Pass#launchNew} sends tiles to. */
        int tileRows() {
            return fa ? 16 * faWarps : AttentionPlan.TILE_ROWS;
        }
    }

    /**
     * A pass over its own cache: each part a sequence whose blocks are a random permutation of a pool;
     * random K and V (uniform in [-1, 1), 16-bit) in every slot, random f32 q (uniform in [-2, 2)).
     */
    static final class Pass implements AutoCloseable {
        final Device d;
        final Shape shape;
        final List<Part> parts;
        final int rows;
        final int[] positions;
        final int[] rowSeq;
        final int stride;
        final int[][] tables;
        final short[] keys;
        final short[] values;
        final float[] q;
        final double maxAbsV;
        final float scale;
        // device
        final long qkv;
        final long kCache;
        final long vCache;
        final long posD;
        final long seqD;
        final long tablesD;
        final long strideD;
        final long tilesD;
        final long decodeD;
        long partial;
        long partialBytes;
        final long out;

        Pass(Device d, Shape shape, List<Part> parts, long seed) {
            this.d = d;
            this.shape = shape;
            this.parts = parts;
            Random random = new Random(seed * 7919 + shape.headDim() * 31L + shape.group());
            int r = 0;
            int blocks = 0;
            int maxBlocks = 1;
            for (Part p : parts) {
                r += p.length();
                int b = (p.start() + p.length() + BLOCK - 1) / BLOCK;
                blocks += b;
                maxBlocks = Math.max(maxBlocks, b);
            }
            rows = r;
            stride = maxBlocks;
            List<Integer> pool = new ArrayList<>();
            for (int b = 0; b < blocks; b++) {
                pool.add(b);
            }
            Collections.shuffle(pool, random);
            tables = new int[parts.size()][];
            positions = new int[rows];
            rowSeq = new int[rows];
            int next = 0;
            int row = 0;
            for (int s = 0; s < parts.size(); s++) {
                Part p = parts.get(s);
                int b = (p.start() + p.length() + BLOCK - 1) / BLOCK;
                tables[s] = new int[b];
                for (int i = 0; i < b; i++) {
                    tables[s][i] = pool.get(next++);
                }
                for (int i = 0; i < p.length(); i++, row++) {
                    positions[row] = p.start() + i;
                    rowSeq[row] = s;
                }
            }
            int kvDim = shape.kvDim();
            long slots = (long) blocks * BLOCK;
            keys = new short[Math.toIntExact(slots * kvDim)];
            values = new short[keys.length];
            double mv = 0;
            for (int i = 0; i < keys.length; i++) {
                keys[i] = shape.fromFloat(random.nextFloat() * 2 - 1);
                values[i] = shape.fromFloat(random.nextFloat() * 2 - 1);
                mv = Math.max(mv, Math.abs(shape.toFloat(values[i])));
            }
            maxAbsV = mv;
            q = new float[rows * shape.qkvDim()];
            for (int i = 0; i < q.length; i++) {
                q[i] = random.nextFloat() * 4 - 2;
            }
            scale = (float) (1.0 / Math.sqrt(shape.headDim()));
            qkv = d.alloc((long) q.length * Float.BYTES);
            kCache = d.alloc((long) keys.length * Short.BYTES);
            vCache = d.alloc((long) values.length * Short.BYTES);
            posD = d.alloc((long) rows * Integer.BYTES);
            seqD = d.alloc((long) rows * Integer.BYTES);
            tablesD = d.alloc((long) parts.size() * stride * Integer.BYTES);
            strideD = d.alloc(Integer.BYTES);
            tilesD = d.alloc((long) 4 * rows * Integer.BYTES);
            decodeD = d.alloc((long) rows * Integer.BYTES);
            out = d.alloc((long) rows * shape.heads() * shape.headDim() * Short.BYTES);
            upload(qkv, MemorySegment.ofArray(q));
            upload(kCache, MemorySegment.ofArray(keys));
            upload(vCache, MemorySegment.ofArray(values));
            upload(posD, MemorySegment.ofArray(positions));
            upload(seqD, MemorySegment.ofArray(rowSeq));
            int[] flat = new int[parts.size() * stride];
            for (int s = 0; s < parts.size(); s++) {
                System.arraycopy(tables[s], 0, flat, s * stride, tables[s].length);
            }
            upload(tablesD, MemorySegment.ofArray(flat));
            upload(strideD, MemorySegment.ofArray(new int[] {stride}));
        }

        private static void upload(long dst, MemorySegment src) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment host = a.allocate(src.byteSize(), 64);
                host.copyFrom(src);
                check(cudaMemcpy(at(dst), at(host.address()), src.byteSize(), cudaMemcpyHostToDevice), "cudaMemcpy");
            }
        }

        /** The plan of the parts with these indices (as a pass of those parts alone, rows renumbered). */
        AttentionPlan plan(List<Integer> which) {
            return plan(which, AttentionPlan.TILE_ROWS);
        }

        /** {@link #plan(List)} in tiles of {@code tileRows} rows. */
        AttentionPlan plan(List<Integer> which, int tileRows) {
            List<SequenceChunk> chunks = new ArrayList<>();
            for (int s : which) {
                Part p = parts.get(s);
                chunks.add(new SequenceChunk(new int[p.length()], p.start(), tables[s], LogitsMode.NONE));
            }
            return AttentionPlan.of(chunks, 0, true, shape.window(), true, tileRows);  // the opt-in small-pass splits
        }

        /** The tiles and decode rows of {@code plan} to the device, and scratch for its splits. */
        void upload(AttentionPlan plan) {
            if (plan.tileCount() > 0) {
                upload(tilesD, MemorySegment.ofArray(plan.tiles()));
            }
            if (plan.decodeRows().length > 0) {
                upload(decodeD, MemorySegment.ofArray(plan.decodeRows()));
            }
            long need = (long) plan.decodeRows().length * shape.heads() * plan.splitCap() * (shape.headDim() + 2) * Float.BYTES;
            if (need > partialBytes) {
                d.free(partial);
                partial = d.alloc(need);
                partialBytes = need;
            }
        }

        void clearOut() {
            check(cudaMemset(at(out), 0xff, (long) rows * shape.heads() * shape.headDim() * Short.BYTES), "cudaMemset");
        }

        void launchRows(Kernels k) {
            k.module.args().ptr(qkv).ptr(kCache).ptr(vCache).ptr(posD).ptr(seqD).ptr(tablesD).ptr(strideD).i32(BLOCK)
                    .f32(scale).ptr(out).launch(k.rows, "attention", rows, shape.heads(), 256, d.stream);
        }

        /** The new kernels over the rows of {@code plan} (rows numbered within this pass's buffers). */
        void launchNew(Kernels k, AttentionPlan plan) {
            if (plan.tileCount() > 0) {
                k.module.args().ptr(qkv).ptr(kCache).ptr(vCache).ptr(tilesD).ptr(tablesD).ptr(strideD).i32(BLOCK).f32(scale)
                        .ptr(out);
                if (k.fa) {
                    k.module.launch(k.faKernel, "attention_fa", AttentionPlan.faBlocks(plan.tileCount(), shape.heads()),
                            1, 32 * k.faWarps, d.stream);
                } else {
                    k.module.launch(k.tc, "attention_tc", plan.tileCount(), shape.heads(), 128, d.stream);
                }
            }
            int n = plan.decodeRows().length;
            if (n > 0) {
                k.module.args().ptr(qkv).ptr(kCache).ptr(vCache).ptr(posD).ptr(seqD).ptr(decodeD).ptr(tablesD).ptr(strideD)
                        .i32(BLOCK).f32(scale).ptr(partial).ptr(out).i32(plan.splitKeys())
                        .launch(k.gqa ? k.decodeGqa : k.decode, "attention_decode", n,
                                shape.heads() / (k.gqa ? k.gqaHeads : 1), plan.splitCap(), 256, d.stream);
                if (plan.splitCap() > 1) {
                    k.module.args().ptr(posD).ptr(decodeD).ptr(partial).i32(plan.splitCap()).ptr(out).i32(plan.splitKeys())
                            .launch(k.reduce, "attention_reduce", n, shape.heads(), 128, d.stream);
                }
            }
        }

        short[] runRows(Kernels k) {
            clearOut();
            launchRows(k);
            d.sync();
            return d.shorts(out, rows * shape.heads() * shape.headDim());
        }

        short[] runNew(Kernels k) {
            return runNewOn(k, allParts(parts.size()));
        }

        /**
         * The new kernels over the parts {@code which} only, as a pass of their own: the rows of those parts
         * are moved to the front (q, positions, sequences), outputs read back in that order.
         */
        short[] runNewOn(Kernels k, List<Integer> which) {
            int[] firstRow = new int[parts.size()];
            for (int s = 1; s < parts.size(); s++) {
                firstRow[s] = firstRow[s - 1] + parts.get(s - 1).length();
            }
            int n = 0;
            for (int s : which) {
                n += parts.get(s).length();
            }
            float[] q2 = new float[n * shape.qkvDim()];
            int[] pos2 = new int[n];
            int[] seq2 = new int[n];
            int r = 0;
            for (int s : which) {
                for (int i = 0; i < parts.get(s).length(); i++, r++) {
                    System.arraycopy(q, (firstRow[s] + i) * shape.qkvDim(), q2, r * shape.qkvDim(), shape.qkvDim());
                    pos2[r] = positions[firstRow[s] + i];
                    seq2[r] = s;
                }
            }
            try {
                upload(qkv, MemorySegment.ofArray(q2));
                upload(posD, MemorySegment.ofArray(pos2));
                upload(seqD, MemorySegment.ofArray(seq2));
                AttentionPlan plan = plan(which, k.tileRows());
                // The plan numbers sequences 0.. in `which` order: map them back to this pass's tables.
                int[] tiles = plan.tiles().clone();
                for (int t = 0; t < plan.tileCount(); t++) {
                    tiles[4 * t] = which.get(tiles[4 * t]);
                }
                AttentionPlan mapped = new AttentionPlan(tiles, plan.decodeRows(), plan.splitCap(), plan.splitKeys());
                upload(mapped);
                clearOut();
                launchNew(k, mapped);
                d.sync();
                return d.shorts(out, n * shape.heads() * shape.headDim());
            } finally {
                upload(qkv, MemorySegment.ofArray(q));
                upload(posD, MemorySegment.ofArray(positions));
                upload(seqD, MemorySegment.ofArray(rowSeq));
            }
        }

        /**
         * Part 0's rows again as two chunks of its sequence, [0, split) and [split, length), in one pass
         * (both chunks read part 0's block table); outputs in row order.
         */
        short[] runChunks(Kernels k, int s0, int split) {
            Part p = parts.get(s0);
            List<SequenceChunk> chunks = List.of(new SequenceChunk(new int[split], p.start(), tables[s0], LogitsMode.NONE),
                    new SequenceChunk(new int[p.length() - split], p.start() + split, tables[s0], LogitsMode.NONE));
            AttentionPlan plan = AttentionPlan.of(chunks, 0, true, shape.window(), false, k.tileRows());
            int[] tiles = plan.tiles().clone();
            for (int t = 0; t < plan.tileCount(); t++) {
                tiles[4 * t] = s0;
            }
            int[] decodeRows = plan.decodeRows();
            assertThat(decodeRows).as("chunks of more than one row are tiles").isEmpty();
            AttentionPlan mapped = new AttentionPlan(tiles, decodeRows, plan.splitCap(), plan.splitKeys());
            upload(mapped);
            clearOut();
            launchNew(k, mapped);
            d.sync();
            return d.shorts(out, p.length() * shape.heads() * shape.headDim());
        }

        /** float64 attention of {@code row}, head {@code h}; {@code roundQ}: q rounded to the 16-bit type first. */
        double[] reference(int row, int h, boolean roundQ) {
            int hd = shape.headDim();
            int kvh = h / shape.group();
            int pos = positions[row];
            int from = shape.window() > 0 ? Math.max(0, pos - shape.window() + 1) : 0;
            double[] qv = new double[hd];
            for (int i = 0; i < hd; i++) {
                float x = q[row * shape.qkvDim() + h * hd + i];
                qv[i] = roundQ ? shape.toFloat(shape.fromFloat(x)) : x;
            }
            int[] table = tables[rowSeq[row]];
            int n = pos - from + 1;
            double[] s = new double[n];
            double mx = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                int p = from + j;
                long base = ((long) table[p / BLOCK] * BLOCK + p % BLOCK) * shape.kvDim() + (long) kvh * hd;
                double dot = 0;
                for (int i = 0; i < hd; i++) {
                    dot += qv[i] * shape.toFloat(keys[(int) (base + i)]);
                }
                s[j] = dot * scale;
                mx = Math.max(mx, s[j]);
            }
            double sum = 0;
            double[] o = new double[hd];
            for (int j = 0; j < n; j++) {
                int p = from + j;
                long base = ((long) table[p / BLOCK] * BLOCK + p % BLOCK) * shape.kvDim() + (long) kvh * hd;
                double w = Math.exp(s[j] - mx);
                sum += w;
                for (int i = 0; i < hd; i++) {
                    o[i] += w * shape.toFloat(values[(int) (base + i)]);
                }
            }
            for (int i = 0; i < hd; i++) {
                o[i] /= sum;
            }
            return o;
        }

        @Override
        public void close() {
            d.free(qkv, kCache, vCache, posD, seqD, tablesD, strideD, tilesD, decodeD, out, partial);
        }
    }
}
