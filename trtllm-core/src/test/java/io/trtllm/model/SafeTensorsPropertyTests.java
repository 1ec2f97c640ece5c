package io.trtllm.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.util.RawValue;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import io.trtllm.testing.Gen;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile safetensors files, generated: random and mutated JSON headers (dtypes, shapes, offsets,
 * lengths, values of the wrong type), stated header lengths that lie, data areas too short or too
 * long, and plain random bytes. Each file either opens (and then every tensor's first and last byte
 * can be read) or fails with a {@link ModelFormatException} naming the file; never another
 * exception or error (no OutOfMemoryError, NegativeArraySizeException, ArithmeticException,
 * IndexOutOfBoundsException, InternalError).
 */
class SafeTensorsPropertyTests {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    /** One tensor entry as generated: name, dtype string, shape and how its offsets are made. */
    record Spec(String name, String dtype, List<Long> shape, boolean consistentOffsets, long begin, long end) {
    }

    /** How the written file departs from its header: the stated length, the data area, a byte edit. */
    record Damage(int kind, long value, int position) {
    }

    static Stream<Long> generatedSeeds() {
        return Gen.seeds("SafeTensorsPropertyTests.generated", 500);
    }

    static Stream<Long> randomSeeds() {
        return Gen.seeds("SafeTensorsPropertyTests.random", 200);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("generatedSeeds")
    void generatedFilesOpenOrFailWithAMessage(long seed) throws IOException {
        Gen g = new Gen(seed);
        List<Spec> specs = specs(g);
        Damage damage = damage(g);
        String strayValue = g.oneOf(VALUES);
        ObjectNode header = NODES.objectNode();
        long offset = 0;
        for (Spec s : specs) {
            ObjectNode info = NODES.objectNode();
            info.put("dtype", s.dtype());
            ArrayNode shape = info.putArray("shape");
            s.shape().forEach(shape::add);
            long bytes = byteLength(s);
            long begin = s.consistentOffsets() ? offset : s.begin();
            long end = s.consistentOffsets() ? (bytes < 0 ? s.end() : offset + bytes) : s.end();
            info.putArray("data_offsets").add(begin).add(end);
            if (s.consistentOffsets() && bytes >= 0) {
                offset += bytes;
            }
            header.set(s.name(), info);
        }
        if (damage.kind() == 4 && !specs.isEmpty()) {
            // a value of the wrong type (or an absurd number) where a field was
            String field = List.of("dtype", "shape", "data_offsets").get(damage.position() % 3);
            ((ObjectNode) header.get(specs.get(damage.position() % specs.size()).name()))
                    .putRawValue(field, new RawValue(strayValue));
        } else if (damage.kind() == 5) {
            header.putRawValue("__metadata__", new RawValue(strayValue));
        }
        byte[] json = JSON.writeValueAsBytes(header);
        long dataLength = Math.min(Math.max(offset, 0), 1 << 16);
        long stated = json.length;
        switch (damage.kind()) {
            case 0 -> { } // as declared
            case 1 -> stated = damage.value(); // a stated header length that lies
            case 2 -> dataLength = Math.max(0, dataLength + damage.value() % 64); // data area short or long
            case 3 -> json = Arrays.copyOf(json, damage.position() % (json.length + 1)); // truncated JSON
            case 6 -> json[damage.position() % json.length] ^= (byte) (damage.value() | 1); // a byte flipped
            default -> { }
        }
        check(write(json, stated, (int) dataLength));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("randomSeeds")
    void randomBytesOpenOrFailWithAMessage(long seed) throws IOException {
        byte[] bytes = new Gen(seed).bytes(300);
        Path dir = Files.createTempDirectory("st-prop");
        Path file = Files.write(dir.resolve("model.safetensors"), bytes);
        try {
            check(file);
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    /** Opens {@code file}: success (every tensor readable) or a ModelFormatException naming it. */
    private static void check(Path file) throws IOException {
        try {
            try (SafeTensors st = SafeTensors.open(file)) {
                for (String name : st.names()) {
                    Tensor t = st.tensor(name);
                    long n = t.data().byteSize();
                    if (n > 0) {
                        t.data().get(ValueLayout.JAVA_BYTE, 0);
                        t.data().get(ValueLayout.JAVA_BYTE, n - 1);
                    }
                    assertThat(t.numel()).isEqualTo(Arrays.stream(t.shape()).reduce(1, Math::multiplyExact));
                }
            } catch (ModelFormatException e) {
                assertThat(e.getMessage()).contains(file.toString()).hasSizeGreaterThan(file.toString().length() + 10);
            }
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(file.getParent());
        }
    }

    private static Path write(byte[] json, long statedLength, int dataLength) {
        try {
            Path dir = Files.createTempDirectory("st-prop");
            ByteBuffer b = ByteBuffer.allocate(8 + json.length + dataLength).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(statedLength).put(json);
            for (int i = 0; i < dataLength; i++) {
                b.put((byte) i);
            }
            return Files.write(dir.resolve("model.safetensors"), b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** numel × element size of the spec, or -1 when it is not a positive 64-bit count of a known dtype. */
    private static long byteLength(Spec s) {
        int size = switch (s.dtype()) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            case "I8", "U8" -> 1;
            default -> -1;
        };
        long n = 1;
        try {
            for (long d : s.shape()) {
                if (d < 0) {
                    return -1;
                }
                n = Math.multiplyExact(n, d);
            }
            return size < 0 ? -1 : Math.multiplyExact(n, size);
        } catch (ArithmeticException e) {
            return -1;
        }
    }

    static List<Spec> specs(Gen g) {
        return g.uniqueListOf(5, () -> {
            String name = g.frequency(1, () -> g.string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._", 1, 12),
                    1, () -> g.oneOf("model.norm.weight", "__metadata__", "", "ä☃", "a\u0000b"));
            String dtype = g.frequency(12, () -> g.oneOf("F32", "F16", "BF16", "I8", "U8"),
                    1, () -> g.oneOf("F64", "I64", "BOOL", "f32", ""));
            List<Long> shape = g.listOf(4, () -> g.frequency(8, () -> g.longBetween(0, 9),
                    1, () -> g.oneOf(-1L, 1L << 31, 1L << 32, 1L << 62, Long.MAX_VALUE, 3_000_000_000L)));
            boolean consistent = g.chance(5.0 / 6);
            return new Spec(name, dtype, shape, consistent, offset(g), offset(g));
        }, Spec::name);
    }

    private static long offset(Gen g) {
        return g.frequency(4, () -> g.longBetween(0, 2000),
                1, () -> g.oneOf(-1L, Long.MAX_VALUE, Long.MIN_VALUE, 1L << 40, (1L << 31) - 1));
    }

    static Damage damage(Gen g) {
        long value = g.frequency(3, () -> g.longBetween(-100, 100_000),
                1, () -> g.oneOf(0L, -1L, Long.MIN_VALUE, Long.MAX_VALUE, 100_000_001L, 1L << 32));
        return new Damage(g.intBetween(0, 6), value, g.intBetween(0, 10_000));
    }

    /** JSON values of every type, and numbers no field can hold. */
    private static final List<String> VALUES = List.of("null", "true", "\"F32\"", "\"\"", "[]", "{}", "[1]", "[0, 4]",
            "[4, 0]", "[-1, 4]", "[1.5, 4]", "1e999", "-1e999", "1e308", "18446744073709551617", "[18446744073709551617, 0]",
            "9223372036854775807", "-9223372036854775808", "[[1]]", "{\"a\": 1}", "{\"a\": \"b\"}", "0.0", "\"\\u0000\"");
}
