package io.trtllm.engine;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.model.SafeTensors;
import io.trtllm.model.SafeTensorsWriter;
import io.trtllm.model.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The tiny llama fixture ({@link TinyModels#llama}) as editable data: its config as a JSON object and
 * its F32 tensors as arrays, written back as a checkpoint directory after a test broke something.
 */
final class TinyCheckpoint {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One tensor: shape and row-major values. */
    record Weights(long[] shape, float[] values) {
    }

    final ObjectNode config;
    final Map<String, Weights> tensors = new LinkedHashMap<>();

    private TinyCheckpoint(ObjectNode config) {
        this.config = config;
    }

    /** The fixture's config and tensors (read from a copy under {@code scratch}). */
    static TinyCheckpoint llama(Path scratch) {
        Path dir = TinyModels.llama(scratch);
        try {
            TinyCheckpoint c = new TinyCheckpoint((ObjectNode) JSON.readTree(dir.resolve("config.json").toFile()));
            try (SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"))) {
                for (String name : st.names()) {
                    Tensor t = st.tensor(name);
                    c.tensors.put(name, new Weights(t.shape(), t.data().toArray(F32)));
                }
            }
            return c;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes config.json and model.safetensors (a valid file) into {@code dir}. */
    Path write(Path dir) {
        writeConfig(dir);
        List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
        tensors.forEach((name, w) -> entries.add(new SafeTensorsWriter.Entry(name, w.shape(), w.values())));
        SafeTensorsWriter.writeF32(dir.resolve("model.safetensors"), entries, Map.of("format", "pt"));
        return dir;
    }

    /**
     * Writes config.json and a model.safetensors whose header {@code edit} may break at will: it gets the
     * header as written for the tensors (F32, packed in order, no padding) and the bytes after it stay
     * the tensors' data; {@code statedLength} null states the header's true length.
     */
    Path writeRaw(Path dir, Consumer<ObjectNode> edit, Long statedLength) {
        writeConfig(dir);
        ObjectNode header = JSON.createObjectNode();
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        long offset = 0;
        for (Map.Entry<String, Weights> e : tensors.entrySet()) {
            ObjectNode info = header.putObject(e.getKey());
            info.put("dtype", "F32");
            var shape = info.putArray("shape");
            for (long d : e.getValue().shape()) {
                shape.add(d);
            }
            long bytes = 4L * e.getValue().values().length;
            info.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
            ByteBuffer b = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : e.getValue().values()) {
                b.putFloat(v);
            }
            data.writeBytes(b.array());
        }
        edit.accept(header);
        try {
            byte[] json = JSON.writeValueAsBytes(header);
            ByteBuffer head = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(statedLength != null ? statedLength : json.length);
            ByteArrayOutputStream file = new ByteArrayOutputStream();
            file.writeBytes(head.array());
            file.writeBytes(json);
            file.writeBytes(data.toByteArray());
            Files.write(dir.resolve("model.safetensors"), file.toByteArray());
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void writeConfig(Path dir) {
        try {
            Files.createDirectories(dir);
            Files.write(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(config));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
