package io.trtllm.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Hand-crafted safetensors files for tests: exactly the bytes given, no padding, no checks. */
final class SafeTensorsFiles {
    static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private SafeTensorsFiles() {
    }

    /** Writes {@code u64 LE header length, header (UTF-8), data}. */
    static Path write(Path file, String header, byte[] data) {
        return write(file, header.getBytes(StandardCharsets.UTF_8), data);
    }

    static Path write(Path file, byte[] header, byte[] data) {
        return writeRaw(file, header.length, header, data);
    }

    /** Like {@link #write} but with a stated header length that may lie. */
    static Path writeRaw(Path file, long statedHeaderLength, byte[] header, byte[] data) {
        ByteBuffer buf = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(statedHeaderLength).put(header).put(data);
        try {
            return Files.write(file, buf.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Little-endian bytes of {@code values} as F32. */
    static byte[] f32(float... values) {
        ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            buf.putFloat(v);
        }
        return buf.array();
    }

    /** One F32 tensor of shape {@code [n]} at {@code [begin, begin + 4n)}, as a header fragment. */
    static String f32Entry(String name, int n, long begin) {
        return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + n + "],\"data_offsets\":[" + begin + ","
                + (begin + 4L * n) + "]}";
    }
}
