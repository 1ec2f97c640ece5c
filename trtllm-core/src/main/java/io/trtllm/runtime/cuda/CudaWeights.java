package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.RopeScaling;
import io.trtllm.model.Tensor;
import io.trtllm.model.TensorConversion;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A model's weights on the device, as {@link CudaModelRunner} launches over them: matrices row-major in
 * the runner's 16-bit type ({@code weightType}; checkpoints of other floating-point types are converted
 * while uploading), or, from a weight-only quantized engine, INT8 / INT4 values with their scales as
 * the engine stores them ({@link QuantizedLayout}); q|k|v and gate|up stacked on their rows so that
 * each pair or triple is one GEMM;
 * norm scales, biases and the rotary inverse frequencies as F32. Addresses; 0 for what the model lacks.
 * Owns its device memory (through {@link DeviceMemory}); the checkpoint may be closed once uploaded.
 */
final class CudaWeights implements AutoCloseable {

    /** One decoder layer's device buffers (addresses; 0 = absent). */
    record Layer(long attnNorm, DeviceMatrix wqkv, long bqkv, long qNorm, long kNorm, DeviceMatrix wo, long bo,
                 long ffnNorm, DeviceMatrix wgateUp, DeviceMatrix wdown) {
    }

    private final ModelConfig config;
    private final DType weightType;
    private final DeviceMemory memory;
    /** Everything uploaded, for {@link #close}. */
    private final List<Long> uploaded = new ArrayList<>();
    /** {@code (vocab, dim)} bf16. */
    final long embedding;
    /** {@code (vocab, dim)} bf16 (the embedding when tied), or quantized. */
    final DeviceMatrix lmHead;
    /** {@code dim} f32. */
    final long finalNorm;
    /** {@code headDim / 2} f32. */
    final long invFreq;
    private final Layer[] layers;

    /**
     * Uploads the weights of {@code config}'s model; what was uploaded before a failure stays in
     * {@code memory}, whose owner frees it.
     *
     * @throws ModelFormatException when a tensor is missing, has another shape or holds integers
     */
    CudaWeights(ModelConfig config, Checkpoint weights, DType weightType, DeviceMemory memory) {
        this.config = config;
        this.weightType = weightType;
        this.memory = memory;
        int dim = config.hiddenSize();
        this.embedding = uploadMatrix(weights, List.of("model.embed_tokens.weight"), config.vocabSize(), dim);
        // An INT8 / INT4 engine (and FP8 recipe 1's) quantizes a tied head into lm_head.qweight, the embedding keeping its
        // dtype for lookups; FP8 recipe 2 writes no head, so the embedding is the head here, in the 16-bit type.
        this.lmHead = config.tieWordEmbeddings() && !weights.contains("lm_head" + QuantizedLayout.QWEIGHT)
                ? DeviceMatrix.floats(embedding, config.vocabSize(), dim)
                : uploadLinear(weights, List.of("lm_head"), config.vocabSize(), dim);
        this.finalNorm = uploadVector(weights, "model.norm.weight", dim);
        this.invFreq = uploadFloats(RopeScaling.inverseFrequencies(config.headDim(), config.ropeTheta(),
                config.ropeScaling()));
        this.layers = new Layer[config.numLayers()];
        for (int l = 0; l < layers.length; l++) {
            layers[l] = uploadLayer(weights, l);
        }
    }

    Layer layer(int l) {
        return layers[l];
    }

    int layers() {
        return layers.length;
    }

    private Layer uploadLayer(Checkpoint w, int l) {
        ModelConfig c = config;
        String p = "model.layers." + l + ".";
        int dim = c.hiddenSize();
        int qkvDim = c.qDim() + 2 * c.kvDim();
        long bqkv = 0;
        if (c.attentionBias()) {
            float[] b = new float[qkvDim];
            readVector(w.tensor(p + "self_attn.q_proj.bias"), b, 0, c.qDim());
            readVector(w.tensor(p + "self_attn.k_proj.bias"), b, c.qDim(), c.kvDim());
            readVector(w.tensor(p + "self_attn.v_proj.bias"), b, c.qDim() + c.kvDim(), c.kvDim());
            bqkv = uploadFloats(b);
        }
        return new Layer(
                uploadVector(w, p + "input_layernorm.weight", dim),
                uploadLinear(w, List.of(p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"), qkvDim, dim),
                bqkv,
                c.qkNorm() ? uploadVector(w, p + "self_attn.q_norm.weight", c.headDim()) : 0,
                c.qkNorm() ? uploadVector(w, p + "self_attn.k_norm.weight", c.headDim()) : 0,
                uploadLinear(w, List.of(p + "self_attn.o_proj"), dim, c.qDim()),
                c.outputBias() ? uploadVector(w, p + "self_attn.o_proj.bias", dim) : 0,
                uploadVector(w, p + "post_attention_layernorm.weight", dim),
                uploadLinear(w, List.of(p + "mlp.gate_proj", p + "mlp.up_proj"), 2 * c.intermediateSize(), dim),
                uploadLinear(w, List.of(p + "mlp.down_proj"), dim, c.intermediateSize()));
    }

    /** Whether {@code w} holds FP8 weights (an engine built with quantization fp8). */
    static boolean holdsFp8(Checkpoint w) {
        for (String name : w.names()) {
            if (name.endsWith(QuantizedLayout.QWEIGHT) && w.tensor(name).dtype() == DType.F8_E4M3) {
                return true;
            }
        }
        return false;
    }

    /** The largest quantized matrix's values and columns (what the dequantization scratch must hold); 0 when none is. */
    long maxQuantizedElements() {
        long max = 0;
        for (DeviceMatrix m : linears()) {
            if (m.quantized()) {
                max = Math.max(max, (long) m.rows() * m.cols());
            }
        }
        return max;
    }

    /** The widest quantized matrix's columns; 0 when none is. */
    int maxQuantizedCols() {
        int max = 0;
        for (DeviceMatrix m : linears()) {
            if (m.quantized()) {
                max = Math.max(max, m.cols());
            }
        }
        return max;
    }

    /** How the linear weights are stored ({@code FLOAT} for a float engine; the quantized format otherwise). */
    DeviceMatrix.Format linearFormat() {
        return layers.length > 0 ? layers[0].wqkv().format() : lmHead.format();
    }

    private List<DeviceMatrix> linears() {
        List<DeviceMatrix> all = new ArrayList<>(List.of(lmHead));
        for (Layer l : layers) {
            all.addAll(List.of(l.wqkv(), l.wo(), l.wgateUp(), l.wdown()));
        }
        return all;
    }

    /**
     * The linear weights of {@code modules} stacked on their rows ({@code rows × cols} in all): from their
     * {@code .weight} tensors as the runner's 16-bit type, or, in a weight-only quantized engine, their
     * {@code .qweight} and {@code .scales} ({@link QuantizedLayout}) as they are.
     */
    private DeviceMatrix uploadLinear(Checkpoint w, List<String> modules, int rows, int cols) {
        if (!w.contains(modules.getFirst() + QuantizedLayout.QWEIGHT)) {
            return DeviceMatrix.floats(uploadMatrix(w, modules.stream().map(m -> m + ".weight").toList(), rows, cols), rows, cols);
        }
        Tensor first = w.tensor(modules.getFirst() + QuantizedLayout.QWEIGHT);
        DeviceMatrix.Format format = switch (first.dtype()) {
            case I8 -> DeviceMatrix.Format.INT8;
            case U8 -> DeviceMatrix.Format.INT4;
            case F8_E4M3 -> DeviceMatrix.Format.FP8;
            default -> throw new ModelFormatException("tensor " + first.name() + " has dtype " + first.dtype()
                    + "; quantized weights are I8 (int8), U8 (int4, two values a byte) or F8_E4M3 (fp8)");
        };
        boolean int4 = format == DeviceMatrix.Format.INT4;
        int groupSize = int4 ? groupSize(w.tensor(modules.getFirst() + QuantizedLayout.SCALES), cols) : cols;
        long valueBytes = int4 ? (long) cols / 2 : cols;
        int groups = cols / groupSize;
        long values = alloc(rows * valueBytes);
        long scales = alloc((long) rows * groups * Float.BYTES);
        long row = 0;
        for (String module : modules) {
            Tensor q = w.tensor(module + QuantizedLayout.QWEIGHT);
            Tensor s = w.tensor(module + QuantizedLayout.SCALES);
            long n = q.rank() == 2 ? q.dim(0) : -1;
            long[] qShape = int4 ? QuantizedLayout.int4Shape(n, cols) : QuantizedLayout.int8Shape(n, cols);
            long[] sShape = int4 ? QuantizedLayout.int4ScalesShape(n, cols, groupSize) : QuantizedLayout.int8ScalesShape(n);
            if (q.dtype() != first.dtype() || !Arrays.equals(q.shape(), qShape) || s.dtype() != DType.F32
                    || !Arrays.equals(s.shape(), sShape) || row + n > rows) {
                throw new ModelFormatException("quantized module " + module + ": " + q.name() + " is " + q.dtype()
                        + Arrays.toString(q.shape()) + " and " + s.name() + " " + s.dtype() + Arrays.toString(s.shape())
                        + "; expected " + first.dtype() + Arrays.toString(qShape) + " and F32" + Arrays.toString(sShape)
                        + " within " + rows + " rows of " + cols + " columns");
            }
            copyBytes(q, values + row * valueBytes);
            copyBytes(s, scales + row * groups * Float.BYTES);
            row += n;
        }
        if (row != rows) {
            throw new ModelFormatException("quantized modules " + modules + " hold " + row + " rows; expected " + rows);
        }
        return new DeviceMatrix(values, scales, format, rows, cols, groupSize);
    }

    /** The int4 group size that scales of shape {@code [rows, groups]} give to {@code cols} columns. */
    private static int groupSize(Tensor scales, int cols) {
        if (scales.rank() != 2 || scales.dim(1) <= 0 || cols % scales.dim(1) != 0 || (cols / scales.dim(1)) % 2 != 0) {
            throw new ModelFormatException("tensor " + scales.name() + " has shape " + Arrays.toString(scales.shape())
                    + "; int4 scales are [rows, groups] with groups dividing " + cols + " columns in even groups");
        }
        return (int) (cols / scales.dim(1));
    }

    /** Copies a tensor's bytes as they are to {@code dst}. */
    private static void copyBytes(Tensor t, long dst) {
        MemorySegment data = t.data();
        if (data.isNative()) {
            check(cudaMemcpy(at(dst), at(data.address()), data.byteSize(), cudaMemcpyHostToDevice), "cudaMemcpy");
            return;
        }
        try (Arena staging = Arena.ofConfined()) {
            MemorySegment copy = staging.allocate(data.byteSize(), 64);
            copy.copyFrom(data);
            check(cudaMemcpy(at(dst), at(copy.address()), copy.byteSize(), cudaMemcpyHostToDevice), "cudaMemcpy");
        }
    }

    /** Row-major matrices stacked on their rows ({@code rows × cols} in all), in the weight type on the device. */
    private long uploadMatrix(Checkpoint w, List<String> names, long rows, long cols) {
        long dst = alloc(rows * cols * Short.BYTES);
        long offset = 0;
        for (String name : names) {
            Tensor t = w.tensor(name);
            long bytes = t.numel() * Short.BYTES;
            if (t.rank() != 2 || t.dim(1) != cols || offset + bytes > rows * cols * Short.BYTES) {
                throw new ModelFormatException("tensor " + name + " has shape " + Arrays.toString(t.shape())
                        + "; expected [*, " + cols + "] within " + rows + " rows");
            }
            if (t.dtype() == weightType && t.data().isNative()) {
                check(cudaMemcpy(at(dst + offset), at(t.data().address()), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
            } else {
                try (Arena staging = Arena.ofConfined()) {
                    MemorySegment converted = staging.allocate(bytes, 64);
                    if (!t.dtype().isFloatingPoint()) {
                        throw new ModelFormatException("tensor " + t.name() + " holds integers (" + t.dtype()
                                + "): the CUDA backend takes floating-point weights here (a quantized engine stores .qweight and .scales)");
                    }
                    TensorConversion.convert(t, weightType, converted);
                    check(cudaMemcpy(at(dst + offset), at(converted.address()), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
                }
            }
            offset += bytes;
        }
        if (offset != rows * cols * Short.BYTES) {
            throw new ModelFormatException("tensors " + names + " hold " + offset / Short.BYTES + " elements; expected "
                    + rows + " × " + cols);
        }
        return dst;
    }

    private long uploadVector(Checkpoint w, String name, int n) {
        float[] v = new float[n];
        readVector(w.tensor(name), v, 0, n);
        return uploadFloats(v);
    }

    private static void readVector(Tensor t, float[] dst, int offset, int n) {
        if (t.numel() != n) {
            throw new ModelFormatException("tensor " + t.name() + " has " + t.numel() + " elements; expected " + n);
        }
        MemorySegment s = t.data();
        for (int i = 0; i < n; i++) {
            dst[offset + i] = switch (t.dtype()) {
                case F32 -> s.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
                case F16 -> Float.float16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
                case BF16 -> Float.intBitsToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i) << 16);
                case I8, U8, F8_E4M3 -> throw new ModelFormatException("tensor " + t.name() + " holds integers (" + t.dtype()
                        + "): the CUDA backend takes floating-point weights here (a quantized engine stores .qweight and .scales)");
            };
        }
    }

    private long uploadFloats(float[] v) {
        long dst = alloc((long) v.length * Float.BYTES);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocateFrom(ValueLayout.JAVA_FLOAT, v);
            check(cudaMemcpy(at(dst), at(host.address()), host.byteSize(), cudaMemcpyHostToDevice), "cudaMemcpy");
        }
        return dst;
    }

    private long alloc(long bytes) {
        long address = memory.alloc(bytes, "weights");
        uploaded.add(address);
        return address;
    }

    /** Frees the weights' device memory; idempotent. */
    @Override
    public void close() {
        for (long a : uploaded) {
            memory.free(a);
        }
        uploaded.clear();
    }
}
