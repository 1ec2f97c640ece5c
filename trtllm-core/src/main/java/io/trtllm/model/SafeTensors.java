package io.trtllm.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One safetensors file, memory-mapped with FFM (no 2 GB limit, no copy on the heap). The header
 * is untrusted: {@link #open} validates it completely before any tensor is handed out.
 *
 * <p>Layout (<a href="https://github.com/huggingface/safetensors">spec</a>): an unsigned 64-bit
 * little-endian header length {@code n}, {@code n} bytes of UTF-8 JSON, then the data area. The
 * JSON maps each tensor name to {@code {dtype, shape, data_offsets: [begin, end]}} with offsets
 * relative to the data area, plus an optional {@code __metadata__} string map.
 *
 * <p>Validation follows the reference Rust implementation ({@code Metadata::validate}): tensors,
 * sorted by offset, must tile the data area exactly, with no overlap, no gap and no trailing
 * bytes. Every file that Hugging Face's own loader accepts passes this, so being as strict costs
 * nothing and catches truncated or hand-edited files early instead of as garbage weights later.
 *
 * <p>The mapping is in a shared arena because the runtime reads weights from many threads. The
 * tensor data handed out are slices of that mapping: they stay valid until {@link #close()}, after
 * which any access to them throws {@link IllegalStateException}. Tensor data can be unaligned
 * (header lengths are not always padded), so readers use unaligned layouts.
 */
public final class SafeTensors implements AutoCloseable {

    /** Element types this engine reads, by their safetensors names. */
    private static final Map<String, DType> DTYPES = Map.of("F32", DType.F32, "F16", DType.F16, "BF16", DType.BF16,
            "I8", DType.I8, "U8", DType.U8, "F8_E4M3", DType.F8_E4M3);

    /** Same bound as the Rust implementation: a larger header is a corrupt or hostile file. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    private static final String METADATA_KEY = "__metadata__";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private static final Logger log = LoggerFactory.getLogger(SafeTensors.class);

    private final Path file;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;
    private final AtomicBoolean closed = new AtomicBoolean();

    private SafeTensors(Path file, Arena arena, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.file = file;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps {@code file} read-only and validates its header; errors name the file and tensor. */
    public static SafeTensors open(Path file) {
        if (!Files.exists(file)) {
            throw new ModelFormatException(file + ": not found");
        }
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException(file + ": not a regular file");
        }
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < Long.BYTES) {
                throw new ModelFormatException(file + ": not a safetensors file: " + size
                        + " bytes, shorter than the 8-byte header length");
            }
            MemorySegment mapping = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            SafeTensors st = parse(file, arena, mapping);
            log.debug("mapped {}: {} tensors, {} bytes", file, st.tensors.size(), size);
            return st;
        } catch (NoSuchFileException e) {
            arena.close();
            throw new ModelFormatException(file + ": not found", e);
        } catch (IOException e) {
            arena.close();
            throw new UncheckedIOException("reading " + file + ": " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Validates the header of the mapped {@code file} and slices its tensors; never copies data. */
    private static SafeTensors parse(Path file, Arena arena, MemorySegment mapping) {
        long size = mapping.byteSize();
        long headerLen = mapping.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        // Unsigned on disk: a negative long is a length of 2^63 or more.
        if (headerLen < 0 || headerLen > MAX_HEADER_BYTES) {
            throw new ModelFormatException(file + ": header length " + Long.toUnsignedString(headerLen)
                    + " is larger than the limit of " + MAX_HEADER_BYTES + " bytes; not a safetensors file");
        }
        if (headerLen > size - Long.BYTES) {
            throw new ModelFormatException(file + ": header length " + headerLen + " is larger than the file ("
                    + size + " bytes); truncated or not a safetensors file");
        }
        JsonNode root = readHeader(file, mapping.asSlice(Long.BYTES, headerLen).toArray(ValueLayout.JAVA_BYTE));
        long dataStart = Long.BYTES + headerLen;
        long dataSize = size - dataStart;

        Map<String, String> metadata = Map.of();
        List<TensorInfo> entries = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            if (field.getKey().equals(METADATA_KEY)) {
                metadata = readMetadata(file, field.getValue());
            } else {
                entries.add(readEntry(file, field.getKey(), field.getValue(), dataStart, size));
            }
        }
        checkLayout(file, entries, dataSize);

        MemorySegment data = mapping.asSlice(dataStart, dataSize);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (TensorInfo e : entries) {
            tensors.put(e.name, new Tensor(e.name, e.dtype, e.shape, data.asSlice(e.begin, e.end - e.begin)));
        }
        return new SafeTensors(file, arena, Collections.unmodifiableMap(tensors), metadata);
    }

    private static JsonNode readHeader(Path file, byte[] bytes) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(file + ": header is not valid UTF-8", e);
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(file + ": header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(file + ": header must be a JSON object, got "
                    + (root == null ? "nothing" : root.getNodeType().toString().toLowerCase(Locale.ROOT)));
        }
        return root;
    }

    private static Map<String, String> readMetadata(Path file, JsonNode node) {
        if (node.isNull()) {
            return Map.of();
        }
        if (!node.isObject()) {
            throw new ModelFormatException(file + ": " + METADATA_KEY + " must be an object of strings, got " + node);
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            if (!f.getValue().isTextual()) {
                throw new ModelFormatException(file + ": " + METADATA_KEY + " value of '" + f.getKey()
                        + "' must be a string, got " + f.getValue());
            }
            out.put(f.getKey(), f.getValue().asText());
        }
        return Collections.unmodifiableMap(out);
    }

    /** One header entry, checked on its own: dtype, shape, offsets within the data area, byte length. */
    private static TensorInfo readEntry(Path file, String name, JsonNode info, long dataStart, long fileSize) {
        long dataSize = fileSize - dataStart;
        String where = file + ": tensor '" + name + "'";
        if (!info.isObject()) {
            throw new ModelFormatException(where + ": entry must be an object with dtype, shape and data_offsets, got "
                    + info);
        }
        JsonNode dtypeNode = info.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new ModelFormatException(where + ": 'dtype' must be a string, got " + dtypeNode);
        }
        DType dtype = DTYPES.get(dtypeNode.asText());
        if (dtype == null) {
            throw new ModelFormatException(where + ": dtype " + dtypeNode.asText() + " is not supported; supported: "
                    + Arrays.stream(DType.values()).map(Enum::name).collect(Collectors.joining(", ")));
        }

        JsonNode shapeNode = info.get("shape");
        if (shapeNode == null || !shapeNode.isArray()) {
            throw new ModelFormatException(where + ": 'shape' must be an array of integers, got " + shapeNode);
        }
        long[] shape = new long[shapeNode.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegativeLong(shapeNode.get(i), where + ": shape " + shapeNode);
        }
        long byteLen;
        try {
            for (long d : shape) {
                numel = Math.multiplyExact(numel, d);
            }
            byteLen = Math.multiplyExact(numel, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new ModelFormatException(where + ": shape " + shapeNode + " of " + dtype
                    + " overflows a 64-bit byte count", e);
        }

        JsonNode offsets = info.get("data_offsets");
        if (offsets == null || !offsets.isArray() || offsets.size() != 2) {
            throw new ModelFormatException(where + ": 'data_offsets' must be [begin, end], got " + offsets);
        }
        long begin = nonNegativeLong(offsets.get(0), where + ": data_offsets " + offsets);
        long end = nonNegativeLong(offsets.get(1), where + ": data_offsets " + offsets);
        if (begin > end) {
            throw new ModelFormatException(where + ": data_offsets " + offsets + " end before they begin");
        }
        if (end > dataSize) {
            throw new ModelFormatException(where + ": data_offsets " + offsets + " reach past the end of the data: "
                    + "truncated file, expected at least " + (dataStart + end) + " bytes, actual " + fileSize);
        }
        if (end - begin != byteLen) {
            throw new ModelFormatException(where + ": shape/dtype mismatch: shape " + Arrays.toString(shape) + " of "
                    + dtype + " is " + byteLen + " bytes but data_offsets " + offsets + " span " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static long nonNegativeLong(JsonNode n, String where) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() < 0) {
            throw new ModelFormatException(where + " must hold non-negative integers, got " + n);
        }
        return n.longValue();
    }

    /** Tensors sorted by offset must tile the data area exactly: no overlap, no gap, no trailing bytes. */
    private static void checkLayout(Path file, List<TensorInfo> entries, long dataSize) {
        List<TensorInfo> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong((TensorInfo e) -> e.begin).thenComparingLong(e -> e.end));
        long covered = 0;
        @Nullable TensorInfo previous = null;
        for (TensorInfo e : sorted) {
            if (e.begin < covered) {
                throw new ModelFormatException(file + ": tensor '" + e.name + "' [" + e.begin + ", " + e.end
                        + ") overlaps " + (previous == null ? "another tensor" : "tensor '" + previous.name + "' ["
                        + previous.begin + ", " + previous.end + ")"));
            }
            if (e.begin > covered) {
                throw new ModelFormatException(file + ": gap in the data area: bytes [" + covered + ", " + e.begin
                        + ") before tensor '" + e.name + "' belong to no tensor");
            }
            covered = e.end;
            previous = e;
        }
        if (covered != dataSize) {
            throw new ModelFormatException(file + ": " + (dataSize - covered) + " trailing bytes after the last "
                    + "tensor (data area is " + dataSize + " bytes, tensors cover " + covered + ")");
        }
    }

    /** One validated header entry; offsets relative to the data area. */
    private record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
    }

    public Path file() {
        return file;
    }

    /** Tensor names in file order. Header data, so still readable after {@link #close()}. */
    public Set<String> names() {
        return tensors.keySet();
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /**
     * The tensor's mapped bytes; a missing name is a {@link ModelFormatException} naming file and tensor.
     *
     * @throws IllegalStateException after {@link #close()}
     */
    public Tensor tensor(String name) {
        if (closed.get()) {
            throw new IllegalStateException(file + " is closed; tensor '" + name + "' is no longer mapped");
        }
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new ModelFormatException("tensor '" + name + "' not found in " + file);
        }
        return t;
    }

    /** The header's {@code __metadata__} string map (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Unmaps the file; tensors handed out before throw {@link IllegalStateException} on access. Idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "SafeTensors[" + file + ", " + tensors.size() + " tensors]";
    }
}
