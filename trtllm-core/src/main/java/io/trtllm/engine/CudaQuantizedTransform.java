package io.trtllm.engine;

import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.Quantization;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Tensor;
import io.trtllm.runtime.cuda.QuantizedLayout;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * The CUDA backend's quantized engine layout ({@link QuantizedLayout}): the decoder's linear
 * weights (q/k/v/o, gate/up/down, and for INT8 / INT4 the LM head) as row-major INT8, INT4 or FP8 (E4M3) values
 * with F32 scales; every other tensor (embeddings, norms, biases) converted to the build's dtype as
 * {@link DTypeConversion} does. With INT8 / INT4 a tied LM head ({@code tie_word_embeddings}) gets its own
 * {@code lm_head.qweight}/{@code .scales} written from the embedding, which keeps its dtype for the lookups; a
 * checkpoint's own {@code lm_head.weight} of a tied model is dropped, as transformers ignores it. (The CPU layout
 * does the same: {@link CpuLayoutTransform}.)
 *
 * <p>FP8 follows {@link #FP8_RECIPE}: the LM head is not quantized (a tied head is the embedding itself, an untied
 * {@code lm_head.weight} stays a float tensor), as NVIDIA ModelOpt's FP8 configs ({@code FP8_DEFAULT_CFG},
 * {@code FP8_PER_CHANNEL_PER_TOKEN_CFG}: {@code "*lm_head*": {"enable": False}}) and so TensorRT-LLM's FP8
 * checkpoints leave it; the CUDA runner multiplies a float head in its 16-bit type.
 */
public final class CudaQuantizedTransform implements WeightTransform {
    private static final String EMBEDDING = "model.embed_tokens.weight";
    private static final String LM_HEAD = "lm_head.weight";
    private static final String WEIGHT = ".weight";

    /**
     * Version of what an FP8 engine holds, part of its cache key ({@link EngineCache#keyInputs}) so that an entry
     * written by an older recipe is rebuilt rather than read as this one. 1: every linear weight, the LM head
     * included, E4M3 with one scale per output row ({@code max|w(r, ·)| / 448}). 2: the LM head in the build's
     * float dtype, and one scale per source tensor ({@link QuantizedLayout#fp8Scales}).
     */
    public static final int FP8_RECIPE = 2;

    private final DTypeConversion conversion;
    private final Dtype configured;
    private final Quantization quantization;
    private final boolean tied;
    /** The scales last computed, and of which source tensor (the builder writes one source's tensors in a row). */
    private @Nullable String lastScalesOf;
    private float[] lastScales = new float[0];

    /**
     * @param dtype        dtype of the tensors that stay floating-point; {@link Dtype#AUTO} keeps each tensor's own
     * @param quantization {@link Quantization#INT8}, {@link Quantization#INT4} or {@link Quantization#FP8}
     * @param model        the model (whether its LM head is tied to the embedding)
     * @throws IllegalArgumentException for another quantization
     */
    public CudaQuantizedTransform(Dtype dtype, Quantization quantization, ModelConfig model) {
        if (quantization == Quantization.NONE) {
            throw new IllegalArgumentException("the CUDA quantized layout is for int8, int4 or fp8, not " + quantization.id());
        }
        this.conversion = new DTypeConversion(dtype);
        this.configured = dtype;
        this.quantization = quantization;
        this.tied = model.tieWordEmbeddings();
    }

    @Override
    public List<EngineTensor> plan(Tensor source) {
        String name = source.name();
        if (tied && name.equals(LM_HEAD)) {
            return List.of();
        }
        if (tied && name.equals(EMBEDDING) && quantization != Quantization.FP8) {
            return Stream.concat(conversion.plan(source).stream(), linear(source, "lm_head").stream()).toList();
        }
        if (CpuLayoutTransform.isLinear(name) && !(quantization == Quantization.FP8 && name.equals(LM_HEAD))) {
            return linear(source, name.substring(0, name.length() - WEIGHT.length()));
        }
        return conversion.plan(source);
    }

    /** The engine tensors of linear weight {@code source} as module {@code module}. */
    private List<EngineTensor> linear(Tensor source, String module) {
        long[] shape = source.shape();
        if (shape.length != 2 || shape[0] <= 0 || shape[1] <= 0 || shape[0] > Integer.MAX_VALUE
                || shape[1] > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("tensor '" + source.name() + "' has shape " + Arrays.toString(shape)
                    + ", expected a matrix [out_features, in_features]");
        }
        if (!source.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("tensor '" + source.name() + "' has dtype " + source.dtype()
                    + ": only F32, BF16 or F16 weights can be quantized (pre-quantized checkpoints are not supported)");
        }
        long rows = shape[0];
        long cols = shape[1];
        if (quantization == Quantization.INT8 || quantization == Quantization.FP8) {
            DType values = quantization == Quantization.INT8 ? DType.I8 : DType.F8_E4M3;
            return List.of(tensor(module + QuantizedLayout.QWEIGHT, values, QuantizedLayout.int8Shape(rows, cols)),
                    tensor(module + QuantizedLayout.SCALES, DType.F32, QuantizedLayout.int8ScalesShape(rows)));
        }
        int group = QuantizedLayout.int4GroupSize(source.name(), cols);
        return List.of(tensor(module + QuantizedLayout.QWEIGHT, DType.U8, QuantizedLayout.int4Shape(rows, cols)),
                tensor(module + QuantizedLayout.SCALES, DType.F32, QuantizedLayout.int4ScalesShape(rows, cols, group)));
    }

    private static EngineTensor tensor(String name, DType dtype, long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return new EngineTensor(name, dtype.name(), shape, Math.multiplyExact(n, dtype.byteSize()));
    }

    @Override
    public void write(Tensor source, EngineTensor out, MemorySegment target) {
        String name = out.name();
        boolean values = name.endsWith(QuantizedLayout.QWEIGHT);
        if (!values && !name.endsWith(QuantizedLayout.SCALES)) {
            conversion.write(source, out, target);
            return;
        }
        int group = quantization == Quantization.INT4 ? QuantizedLayout.int4GroupSize(source.name(), source.dim(1)) : 0;
        float[] scales = scales(source, group);
        if (!values) {
            QuantizedLayout.writeScales(scales, target);
        } else if (quantization == Quantization.INT8) {
            QuantizedLayout.writeInt8(source, scales, target);
        } else if (quantization == Quantization.FP8) {
            QuantizedLayout.writeFp8(source, scales, target);
        } else {
            QuantizedLayout.writeInt4(source, group, scales, target);
        }
    }

    /** The scales of {@code source}, computed once for its values and its scales tensor. */
    private float[] scales(Tensor source, int group) {
        if (!source.name().equals(lastScalesOf)) {
            lastScales = switch (quantization) {
                case INT8 -> QuantizedLayout.int8Scales(source);
                case FP8 -> QuantizedLayout.fp8Scales(source);
                case INT4 -> QuantizedLayout.int4Scales(source, group);
                case NONE -> throw new IllegalStateException("no scales without quantization");
            };
            lastScalesOf = source.name();
        }
        return lastScales;
    }

    @Override
    public String describe() {
        String recipe = quantization == Quantization.FP8 ? " (recipe " + FP8_RECIPE + ": per-tensor scales, LM head not quantized)" : "";
        return "cuda row-major, dtype " + configured.id() + ", weight-only " + quantization.id() + recipe;
    }
}
