package io.trtllm.model.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.StreamSupport;

/**
 * Minimal safetensors reader for these tests (F32 only), independent of the production reader:
 * 8-byte little-endian header length, JSON header, then the data.
 */
record SafeTensorsFile(Path file, Map<String, String> metadata, Map<String, Info> tensors, long dataStart) {

    record Info(String dtype, long[] shape, long begin, long end) {
    }

    static SafeTensorsFile open(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, len, 0);
            long headerLength = len.flip().getLong();
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            readFully(ch, header, 8);
            JsonNode root = new ObjectMapper().readTree(header.array());
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, Info> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : root.properties()) {
                JsonNode v = e.getValue();
                if (e.getKey().equals("__metadata__")) {
                    v.properties().forEach(m -> metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                long[] shape = StreamSupport.stream(v.get("shape").spliterator(), false).mapToLong(JsonNode::asLong).toArray();
                tensors.put(e.getKey(), new Info(v.get("dtype").asText(), shape,
                        v.get("data_offsets").get(0).asLong(), v.get("data_offsets").get(1).asLong()));
            }
            return new SafeTensorsFile(file, metadata, tensors, 8 + headerLength);
        }
    }

    /** Row {@code row} of a 2-D tensor, or the whole of a 1-D one ({@code row} 0). */
    float[] row(String name, long row) throws IOException {
        Info info = tensors.get(name);
        if (info == null) {
            throw new IllegalArgumentException("no tensor " + name + " in " + file);
        }
        int cols = (int) info.shape()[info.shape().length - 1];
        return floats(info.begin() + row * cols * Float.BYTES, cols);
    }

    float[] all(String name) throws IOException {
        Info info = tensors.get(name);
        return floats(info.begin(), (int) ((info.end() - info.begin()) / Float.BYTES));
    }

    private float[] floats(long offset, int count) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocate(count * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, buf, dataStart + offset);
            float[] out = new float[count];
            buf.flip().asFloatBuffer().get(out);
            return out;
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf, position + buf.position()) < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }
}
