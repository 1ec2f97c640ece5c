package io.trtllm.engine;

import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.Quantization;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Tensor;
import io.trtllm.runtime.cpu.PanelLayout;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * The CPU backend's engine layout: the linear weights of the decoder (q/k/v/o, gate/up/down and
 * the LM head) written in the CPU runner's panel layout ({@link PanelLayout}), so that a loaded
 * engine runs them in place; float panels in the build's dtype, or weight-only quantized:
 *
 * <ul>
 *   <li>{@link Quantization#NONE}: {@code m.panels} (F32/BF16/F16);</li>
 *   <li>{@link Quantization#INT8}: {@code m.qweight} (I8) and {@code m.scales} (F32, one per row);</li>
 *   <li>{@link Quantization#INT4}: {@code m.qweight} (U8, two values a byte) and {@code m.scales}
 *       (F32, one per row and group of up to 128 input features).</li>
 * </ul>
 *
 * <p>Every other tensor (embeddings, norms, biases) is converted to the build's dtype as
 * {@link DTypeConversion} does. A tied LM head ({@code tie_word_embeddings}) is written from the
 * embedding: unquantized, as {@code model.embed_tokens.panels}, one copy that serves both the
 * lookups and the head; quantized, as its own {@code lm_head.qweight}/{@code .scales} beside the
 * embedding, which keeps its dtype for the lookups. A checkpoint's own {@code lm_head.weight} of a
 * tied model is then dropped, as transformers ignores it.
 */
public final class CpuLayoutTransform implements WeightTransform {
    private static final Pattern LINEAR = Pattern.compile(
            "model\\.layers\\.\\d+\\.(self_attn\\.[qkvo]_proj|mlp\\.(gate|up|down)_proj)\\.weight|lm_head\\.weight");
    private static final String EMBEDDING = "model.embed_tokens.weight";
    private static final String LM_HEAD = "lm_head.weight";

    private final DTypeConversion conversion;
    private final Dtype configured;
    private final @Nullable DType dtype;
    private final Quantization quantization;
    private final boolean tied;
    private final int panelRows;
    /** The int4 scales last computed, and of which source tensor (the builder writes one source's tensors in a row). */
    private @Nullable String lastScalesOf;
    private float[] lastScales = new float[0];

    /**
     * @param dtype        dtype of float weights; {@link Dtype#AUTO} keeps each tensor's own
     * @param quantization weight-only quantization of the linear weights
     * @param model        the model (whether its LM head is tied to the embedding)
     * @param panelRows    rows per panel of the kernels that will run the engine ({@link Device#panelRows()})
     */
    public CpuLayoutTransform(Dtype dtype, Quantization quantization, ModelConfig model, int panelRows) {
        if (panelRows <= 0 || panelRows % 2 != 0) {
            throw new IllegalArgumentException("panel rows must be even and positive, got " + panelRows);
        }
        this.conversion = new DTypeConversion(dtype);
        this.configured = dtype;
        this.dtype = DType.of(dtype);
        this.quantization = quantization;
        this.tied = model.tieWordEmbeddings();
        this.panelRows = panelRows;
    }

    /** Whether {@code name} is a linear weight this layout packs. */
    static boolean isLinear(String name) {
        return LINEAR.matcher(name).matches();
    }

    @Override
    public List<EngineTensor> plan(Tensor source) {
        String name = source.name();
        if (tied && name.equals(LM_HEAD)) {
            return List.of();
        }
        if (tied && name.equals(EMBEDDING)) {
            return quantization == Quantization.NONE
                    ? linear(source, "model.embed_tokens")
                    : concat(conversion.plan(source), linear(source, "lm_head"));
        }
        if (isLinear(name)) {
            return linear(source, name.substring(0, name.length() - PanelLayout.WEIGHT.length()));
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
                    + ": only F32, BF16 or F16 weights can be " + (quantization == Quantization.NONE ? "packed" : "quantized")
                    + " (pre-quantized checkpoints are not supported)");
        }
        int rows = (int) shape[0];
        int cols = (int) shape[1];
        return switch (quantization) {
            case NONE -> {
                DType to = dtype != null ? dtype : source.dtype();
                yield List.of(tensor(module + PanelLayout.PANELS, to, PanelLayout.panelsShape(rows, cols, panelRows)));
            }
            case INT8 -> List.of(tensor(module + PanelLayout.QWEIGHT, DType.I8, PanelLayout.panelsShape(rows, cols, panelRows)),
                    tensor(module + PanelLayout.SCALES, DType.F32, PanelLayout.int8ScalesShape(rows, panelRows)));
            case INT4 -> {
                int group = PanelLayout.int4GroupSize(source.name(), cols);
                yield List.of(tensor(module + PanelLayout.QWEIGHT, DType.U8, PanelLayout.int4Shape(rows, cols, panelRows)),
                        tensor(module + PanelLayout.SCALES, DType.F32,
                                PanelLayout.int4ScalesShape(rows, cols, group, panelRows)));
            }
        };
    }

    private static EngineTensor tensor(String name, DType dtype, long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return new EngineTensor(name, dtype.name(), shape, Math.multiplyExact(n, dtype.byteSize()));
    }

    private static List<EngineTensor> concat(List<EngineTensor> a, List<EngineTensor> b) {
        return Stream.concat(a.stream(), b.stream()).toList();
    }

    @Override
    public void write(Tensor source, EngineTensor out, MemorySegment target) {
        String name = out.name();
        if (name.endsWith(PanelLayout.PANELS)) {
            PanelLayout.writePanels(source, DType.valueOf(out.dtype()), panelRows, target);
        } else if (name.endsWith(PanelLayout.QWEIGHT) || name.endsWith(PanelLayout.SCALES)) {
            boolean values = name.endsWith(PanelLayout.QWEIGHT);
            switch (quantization) {
                case INT8 -> {
                    if (values) {
                        PanelLayout.writeInt8(source, panelRows, target);
                    } else {
                        PanelLayout.writeInt8Scales(source, panelRows, target);
                    }
                }
                case INT4 -> {
                    int group = PanelLayout.int4GroupSize(source.name(), source.dim(1));
                    float[] scales = int4Scales(source, group);
                    if (values) {
                        PanelLayout.writeInt4(source, panelRows, group, scales, target);
                    } else {
                        PanelLayout.writeInt4Scales(source, panelRows, group, scales, target);
                    }
                }
                case NONE -> throw new IllegalStateException("no quantized tensors without quantization: " + out);
            }
        } else {
            conversion.write(source, out, target);
        }
    }

    /** The int4 scales of {@code source}, computed once for its values and its scales tensor (searched per group). */
    private float[] int4Scales(Tensor source, int group) {
        if (!source.name().equals(lastScalesOf)) {
            lastScales = PanelLayout.int4Scales(source, group);
            lastScalesOf = source.name();
        }
        return lastScales;
    }

    @Override
    public String describe() {
        return "cpu panels of " + panelRows + " rows, dtype " + configured.id()
                + (quantization == Quantization.NONE ? "" : ", weight-only " + quantization.id());
    }
}
