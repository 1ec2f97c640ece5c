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
 * while uploading), q|k|v and gate|up stacked on their rows so that each pair or triple is one GEMM;
 * norm scales, biases and the rotary inverse frequencies as F32. Addresses; 0 for what the model lacks.
 * Owns its device memory (through {@link DeviceMemory}); the checkpoint may be closed once uploaded.
 */
final class CudaWeights implements AutoCloseable {

    /** One decoder layer's device buffers (addresses; 0 = absent). */
    record Layer(long attnNorm, long wqkv, long bqkv, long qNorm, long kNorm, long wo, long bo,
                 long ffnNorm, long wgateUp, long wdown) {
    }

    private final ModelConfig config;
    private final DType weightType;
    private final DeviceMemory memory;
    /** Everything uploaded, for {@link #close}. */
    private final List<Long> uploaded = new ArrayList<>();
    /** {@code (vocab, dim)} bf16. */
    final long embedding;
    /** {@code (vocab, dim)} bf16; the embedding's address when tied. */
    final long lmHead;
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
        this.lmHead = config.tieWordEmbeddings() ? embedding
                : uploadMatrix(weights, List.of("lm_head.weight"), config.vocabSize(), dim);
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
                uploadMatrix(w, List.of(p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                        p + "self_attn.v_proj.weight"), qkvDim, dim),
                bqkv,
                c.qkNorm() ? uploadVector(w, p + "self_attn.q_norm.weight", c.headDim()) : 0,
                c.qkNorm() ? uploadVector(w, p + "self_attn.k_norm.weight", c.headDim()) : 0,
                uploadMatrix(w, List.of(p + "self_attn.o_proj.weight"), dim, c.qDim()),
                c.outputBias() ? uploadVector(w, p + "self_attn.o_proj.bias", dim) : 0,
                uploadVector(w, p + "post_attention_layernorm.weight", dim),
                uploadMatrix(w, List.of(p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"), 2 * c.intermediateSize(), dim),
                uploadMatrix(w, List.of(p + "mlp.down_proj.weight"), dim, c.intermediateSize()));
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
                                + "): the CUDA backend takes floating-point weights (quantized engines are for the CPU backend)");
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
                case I8, U8 -> throw new ModelFormatException("tensor " + t.name() + " holds integers (" + t.dtype()
                        + "): the CUDA backend takes floating-point weights (quantized engines are for the CPU backend)");
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
