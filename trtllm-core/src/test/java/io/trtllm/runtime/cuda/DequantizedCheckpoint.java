package io.trtllm.runtime.cuda;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.engine.ModelIdentity;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.Fp8;
import io.trtllm.model.SafeTensorsWriter;
import io.trtllm.model.Tensor;
import io.trtllm.model.TensorConversion;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A float32 checkpoint of the very numbers an FP8 engine of the CUDA layout holds ({@link QuantizedLayout}): each
 * module's {@code .qweight}·{@code .scales} (E4M3 value times its row's scale) as its {@code .weight}, every other
 * tensor widened to F32. The CPU backend runs it as a float model: the reference the CUDA runner's FP8 engines are
 * held to, and the CPU-side emulation of an FP8 recipe's weights (no GPU needed).
 */
public final class DequantizedCheckpoint {
    private static final ValueLayout.OfFloat F32 = QuantizedLayoutTests.F32;

    private DequantizedCheckpoint() {
    }

    /**
     * Writes {@code out/model.safetensors} from {@code engine}'s weights and {@code out/config.json} from
     * {@code modelDir}'s, untied when the engine holds a head of its own ({@code lm_head.qweight} or
     * {@code lm_head.weight}; a tied head stays the embedding). The tokenizer files of {@code modelDir} are copied
     * beside them, so that the directory is a model an {@code LLM} opens.
     *
     * @return {@code out}
     */
    public static Path write(Checkpoint engine, Path modelDir, Path out) throws IOException {
        List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
        for (String name : engine.names()) {
            Tensor t = engine.tensor(name);
            if (name.endsWith(QuantizedLayout.SCALES)) {
                continue;
            }
            if (name.endsWith(QuantizedLayout.QWEIGHT)) {
                if (t.dtype() != DType.F8_E4M3) {
                    throw new IllegalArgumentException(name + " is " + t.dtype() + ": only FP8 engines are dequantized here");
                }
                String module = name.substring(0, name.length() - QuantizedLayout.QWEIGHT.length());
                Tensor s = engine.tensor(module + QuantizedLayout.SCALES);
                int rows = (int) t.dim(0);
                int cols = (int) t.dim(1);
                float[] w = new float[Math.multiplyExact(rows, cols)];
                for (int r = 0; r < rows; r++) {
                    float scale = s.data().get(F32, 4L * r);
                    for (int c = 0; c < cols; c++) {
                        w[r * cols + c] = Fp8.decode(t.data().get(ValueLayout.JAVA_BYTE, (long) r * cols + c)) * scale;
                    }
                }
                entries.add(new SafeTensorsWriter.Entry(module + ".weight", t.shape(), w));
            } else {
                MemorySegment f32 = Arena.ofAuto().allocate(t.numel() * Float.BYTES, 64);
                TensorConversion.convert(t, DType.F32, f32);
                entries.add(new SafeTensorsWriter.Entry(name, t.shape(), f32.toArray(ValueLayout.JAVA_FLOAT)));
            }
        }
        Files.createDirectories(out);
        SafeTensorsWriter.writeF32(out.resolve("model.safetensors"), entries, Map.of("format", "pt"));
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(modelDir.resolve("config.json").toFile());
        if (engine.contains("lm_head" + QuantizedLayout.QWEIGHT) || engine.contains("lm_head.weight")) {
            config.put("tie_word_embeddings", false);
        }
        config.put("torch_dtype", "float32");
        Files.write(out.resolve("config.json"), json.writeValueAsBytes(config));
        for (String side : ModelIdentity.SIDE_FILES) {
            Path f = modelDir.resolve(side);
            if (!side.equals("config.json") && Files.isRegularFile(f)) {
                Files.copy(f, out.resolve(side));
            }
        }
        return out;
    }
}
