package io.trtllm.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** Writes safetensors files (used by model conversion and by tests that build checkpoints). */
public final class SafeTensorsWriter {

    /** One tensor to write: F32 data from a float array, row-major. */
    public record Entry(String name, long[] shape, float[] data) {
        public Entry {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            if (n != data.length) {
                throw new IllegalArgumentException("tensor " + name + ": " + data.length + " values for "
                        + java.util.Arrays.toString(shape));
            }
        }
    }

    /**
     * One tensor whose F32 values are computed only when the writer reaches it, so a converter
     * holds a single tensor in memory at a time instead of the whole model.
     */
    public record LazyEntry(String name, long[] shape, Supplier<float[]> data) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private SafeTensorsWriter() {
    }

    /**
     * Writes {@code entries} in order as F32 to {@code file} (the header padded so that the data starts 64-byte aligned), replacing
     * it; the file appears complete or not at all (written to a temporary sibling, then moved).
     */
    public static void writeF32(Path file, List<Entry> entries, Map<String, String> metadata) {
        writeF32Lazy(file, entries.stream()
                .map(e -> new LazyEntry(e.name(), e.shape(), e::data))
                .toList(), metadata);
    }

    /**
     * Like {@link #writeF32}, but each tensor's values are requested from its supplier just before
     * they are written (in list order) and dropped afterwards.
     *
     * @throws IllegalArgumentException when a supplier returns a number of values that does not
     *                                  match its shape, or two entries share a name
     */
    public static void writeF32Lazy(Path file, List<LazyEntry> entries, Map<String, String> metadata) {
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) {
            header.put("__metadata__", metadata);
        }
        long offset = 0;
        for (LazyEntry e : entries) {
            long bytes = elements(e.shape()) * Float.BYTES;
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", "F32");
            info.put("shape", e.shape());
            info.put("data_offsets", new long[] {offset, offset + bytes});
            if (header.put(e.name(), info) != null) {
                throw new IllegalArgumentException("duplicate tensor name " + e.name());
            }
            offset += bytes;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(header);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // Pad the header with spaces so the data area starts on a 64-byte (cache-line) boundary:
        // SIMD loads of the weights then never straddle two lines.
        int padded = ((8 + json.length + 63) & ~63) - 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();

        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            writeFully(ch, head);
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (LazyEntry e : entries) {
                float[] data = e.data().get();
                if (data.length != elements(e.shape())) {
                    throw new IllegalArgumentException("tensor " + e.name() + ": " + data.length + " values for "
                            + java.util.Arrays.toString(e.shape()));
                }
                int i = 0;
                while (i < data.length) {
                    int n = Math.min(data.length - i, buf.remaining() / Float.BYTES);
                    if (n == 0) {
                        buf.flip();
                        writeFully(ch, buf);
                        buf.clear();
                        continue;
                    }
                    buf.asFloatBuffer().put(data, i, n);
                    buf.position(buf.position() + n * Float.BYTES);
                    i += n;
                }
            }
            buf.flip();
            writeFully(ch, buf);
            ch.force(true);
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new UncheckedIOException("writing " + file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            deleteQuietly(tmp);
            throw e;
        }
        try {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new UncheckedIOException("publishing " + file + ": " + e.getMessage(), e);
        }
    }

    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort: the original error is what the caller needs
        }
    }
}
