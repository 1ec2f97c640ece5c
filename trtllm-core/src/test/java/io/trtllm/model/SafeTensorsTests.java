package io.trtllm.model;

import static io.trtllm.model.SafeTensorsFiles.F32_LE;
import static io.trtllm.model.SafeTensorsFiles.f32;
import static io.trtllm.model.SafeTensorsFiles.f32Entry;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SafeTensorsTests {
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @TempDir
    Path dir;

    @Test
    void openShouldRoundTripF32ValuesShapesOrderAndMetadata() {
        Path file = dir.resolve("model.safetensors");
        SafeTensorsWriter.writeF32(file, List.of(
                new SafeTensorsWriter.Entry("z.weight", new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, -6.5f}),
                new SafeTensorsWriter.Entry("a.bias", new long[] {3}, new float[] {0.25f, Float.MIN_VALUE, 1e30f}),
                new SafeTensorsWriter.Entry("scalar", new long[] {}, new float[] {42})),
                Map.of("format", "pt"));

        try (SafeTensors st = SafeTensors.open(file)) {
            assertThat(st.file()).isEqualTo(file);
            assertThat(st.names()).containsExactly("z.weight", "a.bias", "scalar");
            assertThat(st.metadata()).containsExactly(Map.entry("format", "pt"));
            assertThat(st.contains("a.bias")).isTrue();
            assertThat(st.contains("missing")).isFalse();

            Tensor w = st.tensor("z.weight");
            assertThat(w.name()).isEqualTo("z.weight");
            assertThat(w.dtype()).isEqualTo(DType.F32);
            assertThat(w.shape()).containsExactly(2, 3);
            assertThat(w.data().toArray(F32_LE)).containsExactly(1, 2, 3, 4, 5, -6.5f);
            assertThat(st.tensor("a.bias").data().toArray(F32_LE)).containsExactly(0.25f, Float.MIN_VALUE, 1e30f);
            Tensor scalar = st.tensor("scalar");
            assertThat(scalar.rank()).isZero();
            assertThat(scalar.numel()).isEqualTo(1);
            assertThat(scalar.data().get(F32_LE, 0)).isEqualTo(42f);
            assertThat(w.data().isReadOnly()).isTrue();
        }
    }

    @Test
    void openShouldReadHandWrittenF16AndBf16AtUnalignedOffsets() {
        // Header of odd length and unpadded: the data area starts at an odd address.
        String header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,1],\"data_offsets\":[4,8]},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[8,8]}}";
        assertThat(header.length() % 2).isOne();
        byte[] data = {0x00, 0x3C, 0x00, (byte) 0xC0, (byte) 0x80, 0x3F, 0x00, 0x3F}; // 1.0, -2.0 | 1.0, 0.5
        Path file = SafeTensorsFiles.write(dir.resolve("half.safetensors"), header, data);

        try (SafeTensors st = SafeTensors.open(file)) {
            assertThat(st.metadata()).isEmpty();
            Tensor h = st.tensor("h");
            assertThat(h.dtype()).isEqualTo(DType.F16);
            assertThat(h.shape()).containsExactly(2);
            assertThat(h.data().toArray(ValueLayout.JAVA_BYTE)).containsExactly(0x00, 0x3C, 0x00, 0xC0);
            assertThat(Float.float16ToFloat(h.data().get(I16_LE, 0))).isEqualTo(1.0f);
            assertThat(Float.float16ToFloat(h.data().get(I16_LE, 2))).isEqualTo(-2.0f);

            Tensor b = st.tensor("b");
            assertThat(b.dtype()).isEqualTo(DType.BF16);
            assertThat(b.shape()).containsExactly(2, 1);
            assertThat(b.data().toArray(ValueLayout.JAVA_BYTE)).containsExactly(0x80, 0x3F, 0x00, 0x3F);
            assertThat(Float.intBitsToFloat(b.data().get(I16_LE, 2) << 16)).isEqualTo(0.5f);

            Tensor empty = st.tensor("e");
            assertThat(empty.shape()).containsExactly(0, 5);
            assertThat(empty.numel()).isZero();
        }
    }

    @Test
    void openShouldAcceptAnEmptyHeader() {
        Path file = SafeTensorsFiles.write(dir.resolve("empty.safetensors"), "{}", new byte[0]);
        try (SafeTensors st = SafeTensors.open(file)) {
            assertThat(st.names()).isEmpty();
        }
    }

    @Test
    void openShouldMapFilesLargerThan2GiBWithoutCopying() throws IOException {
        // A sparse file: 2.4 GB of zeros costs no disk, and a heap copy would not fit the test JVM's needs.
        long n = 600_000_000L;
        String header = "{\"big\":{\"dtype\":\"F32\",\"shape\":[" + n + "],\"data_offsets\":[0," + 4 * n + "]}}";
        Path file = SafeTensorsFiles.write(dir.resolve("big.safetensors"), header, new byte[0]);
        long dataStart = Files.size(file);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(dataStart + 4 * n);
            raf.seek(dataStart + 4 * (n - 1));
            raf.write(f32(7.5f));
        }

        try (SafeTensors st = SafeTensors.open(file)) {
            Tensor big = st.tensor("big");
            assertThat(big.numel()).isEqualTo(n);
            assertThat(big.data().get(F32_LE, 4 * (n - 1))).isEqualTo(7.5f);
            assertThat(big.data().get(F32_LE, 4 * (n / 2))).isZero();
        }
    }

    @Test
    void tensorsShouldBeReadableFromOtherThreads() throws Exception {
        Path file = dir.resolve("m.safetensors");
        SafeTensorsWriter.writeF32(file, List.of(new SafeTensorsWriter.Entry("w", new long[] {4},
                new float[] {1, 2, 3, 4})), Map.of());
        try (SafeTensors st = SafeTensors.open(file); ExecutorService pool = Executors.newFixedThreadPool(2)) {
            Tensor w = st.tensor("w");
            List<Future<Float>> sums = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                sums.add(pool.submit(() -> {
                    float sum = 0;
                    for (float v : w.data().toArray(F32_LE)) {
                        sum += v;
                    }
                    return sum;
                }));
            }
            for (Future<Float> s : sums) {
                assertThat(s.get()).isEqualTo(10f);
            }
        }
    }

    @Test
    void tensorShouldNameFileAndTensorWhenMissing() {
        Path file = SafeTensorsFiles.write(dir.resolve("m.safetensors"), "{" + f32Entry("w", 1, 0) + "}", f32(1));
        try (SafeTensors st = SafeTensors.open(file)) {
            assertThatThrownBy(() -> st.tensor("nope"))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining("tensor 'nope' not found in")
                    .hasMessageContaining(file.toString());
        }
    }

    @Test
    void readingAfterCloseShouldFailWithIllegalStateException() {
        Path file = SafeTensorsFiles.write(dir.resolve("m.safetensors"), "{" + f32Entry("w", 2, 0) + "}", f32(1, 2));
        SafeTensors st = SafeTensors.open(file);
        Tensor before = st.tensor("w");
        st.close();
        st.close(); // idempotent

        assertThatThrownBy(() -> st.tensor("w"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("m.safetensors")
                .hasMessageContaining("closed");
        assertThatThrownBy(() -> before.data().get(F32_LE, 0)).isInstanceOf(IllegalStateException.class);
        assertThat(st.names()).containsExactly("w");
    }

    @Test
    void openShouldRejectAMissingFile() {
        Path file = dir.resolve("absent.safetensors");
        assertThatThrownBy(() -> SafeTensors.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("absent.safetensors")
                .hasMessageContaining("not found");
    }

    @Test
    void openShouldRejectAFileShorterThan8Bytes() throws IOException {
        Path file = Files.write(dir.resolve("short.safetensors"), new byte[] {1, 2, 3, 4, 5});
        assertThatThrownBy(() -> SafeTensors.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("short.safetensors")
                .hasMessageContaining("5 bytes");
    }

    @Test
    void openShouldRejectAHeaderLengthLargerThanTheFile() {
        Path file = SafeTensorsFiles.writeRaw(dir.resolve("cut.safetensors"), 1000, "{}".getBytes(), new byte[0]);
        assertThatThrownBy(() -> SafeTensors.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("cut.safetensors")
                .hasMessageContaining("header length 1000 is larger than the file (10 bytes)");
    }

    @Test
    void openShouldRejectAnAbsurdHeaderLength() {
        Path big = SafeTensorsFiles.writeRaw(dir.resolve("big.safetensors"), 200_000_000L, "{}".getBytes(), new byte[0]);
        assertThatThrownBy(() -> SafeTensors.open(big))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("big.safetensors")
                .hasMessageContaining("200000000")
                .hasMessageContaining("limit");
        Path huge = SafeTensorsFiles.writeRaw(dir.resolve("huge.safetensors"), -1L, "{}".getBytes(), new byte[0]);
        assertThatThrownBy(() -> SafeTensors.open(huge))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("huge.safetensors")
                .hasMessageContaining("18446744073709551615");
    }

    @Test
    void openShouldRejectAHeaderThatIsNotUtf8() {
        byte[] header = {'{', '"', (byte) 0xC3, 0x28, '"', ':', '{', '}', '}'};
        Path file = SafeTensorsFiles.write(dir.resolve("latin.safetensors"), header, new byte[0]);
        assertThatThrownBy(() -> SafeTensors.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("latin.safetensors")
                .hasMessageContaining("UTF-8");
    }

    static Stream<Arguments> badHeaders() {
        String w = f32Entry("w", 2, 0);
        return Stream.of(
                // header JSON, data bytes, expected message fragments
                Arguments.of("not json", 0, List.of("not valid JSON")),
                Arguments.of("[1, 2]", 0, List.of("must be a JSON object", "array")),
                Arguments.of("{} trailing", 0, List.of("not valid JSON")),
                Arguments.of("{" + w + "," + w + "}", 8, List.of("not valid JSON", "Duplicate field 'w'")),
                Arguments.of("{\"w\": 5}", 0, List.of("tensor 'w'", "entry must be an object")),
                Arguments.of("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, List.of("tensor 'w'", "'dtype'")),
                Arguments.of("{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, List.of("tensor 'w'", "'dtype'")),
                Arguments.of("{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
                        List.of("tensor 'w'", "dtype F64 is not supported", "F32, F16, BF16")),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, List.of("tensor 'w'", "'shape'")),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":\"4\",\"data_offsets\":[0,4]}}", 4,
                        List.of("tensor 'w'", "'shape'")),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                        List.of("tensor 'w'", "non-negative integers", "-1")),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,4]}}", 4,
                        List.of("tensor 'w'", "non-negative integers", "2.5")),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
                        List.of("tensor 'w'", "overflows")),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, List.of("tensor 'w'", "'data_offsets'")),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
                        List.of("tensor 'w'", "'data_offsets' must be [begin, end]")),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
                        List.of("tensor 'w'", "non-negative integers")),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
                        List.of("tensor 'w'", "end before they begin")),
                Arguments.of("{" + f32Entry("w", 4, 0) + "}", 8,
                        List.of("tensor 'w'", "truncated file", "expected at least", "actual")),
                Arguments.of("{\"w\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                        List.of("tensor 'w'", "shape/dtype mismatch", "6 bytes", "span 8")),
                Arguments.of("{" + f32Entry("a", 2, 0) + "," + f32Entry("b", 2, 4) + "}", 12,
                        List.of("tensor 'b'", "overlaps tensor 'a'")),
                Arguments.of("{" + f32Entry("a", 2, 0) + "," + f32Entry("b", 2, 12) + "}", 20,
                        List.of("gap", "[8, 12)", "tensor 'b'")),
                Arguments.of("{" + f32Entry("a", 2, 0) + "}", 12, List.of("4 trailing bytes")),
                Arguments.of("{\"__metadata__\":{\"k\":1}," + w + "}", 8, List.of("__metadata__", "'k'", "string")),
                Arguments.of("{\"__metadata__\":[1]," + w + "}", 8, List.of("__metadata__", "object of strings")));
    }

    @ParameterizedTest
    @MethodSource("badHeaders")
    void openShouldRejectBadHeadersNamingFileAndTensor(String header, int dataBytes, List<String> fragments) {
        Path file = SafeTensorsFiles.write(dir.resolve("bad.safetensors"), header, new byte[dataBytes]);
        assertThatThrownBy(() -> SafeTensors.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .satisfies(e -> assertThat(e.getMessage()).contains(fragments));
    }

    @Test
    void truncatedFileMessageShouldGiveExpectedAndActualSizes() {
        String header = "{" + f32Entry("w", 4, 0) + "}";
        Path file = SafeTensorsFiles.write(dir.resolve("t.safetensors"), header, new byte[8]);
        long headerEnd = 8 + header.length();
        assertThatThrownBy(() -> SafeTensors.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("expected at least " + (headerEnd + 16) + " bytes, actual " + (headerEnd + 8));
    }
}
