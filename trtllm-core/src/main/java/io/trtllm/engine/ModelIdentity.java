package io.trtllm.engine;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;

/**
 * What identifies a model directory for the engine cache, cheaply: its resolved path; for every
 * weight file its size, modification time and the SHA-256 of its safetensors header (the whole
 * file for the JSON index); and the SHA-256 of the small files an engine copies (config,
 * tokenizer). Changed weights change the size, the time or the header, so they rebuild; reading
 * the headers only keeps this fast for models of any size.
 */
public final class ModelIdentity {
    /** Small files of a Hugging Face directory that engines carry along (config.json is embedded, the rest copied). */
    public static final List<String> SIDE_FILES = List.of("config.json", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "chat_template.jinja");

    /** Headers larger than this are refused, as {@code SafeTensors} refuses them. */
    private static final long MAX_HEADER_BYTES = 100_000_000L;

    private ModelIdentity() {
    }

    /**
     * The identity of {@code modelDir} as a JSON object (part of the cache key and of the engine's config).
     *
     * @throws ModelFormatException when the directory has no weights or a weight file is not safetensors
     */
    public static ObjectNode of(Path modelDir) {
        try {
            Path real = modelDir.toRealPath();
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("path", real.toString());
            ArrayNode weights = o.putArray("weights");
            for (Path f : Checkpoint.weightFiles(real)) {
                ObjectNode w = weights.addObject();
                w.put("file", real.relativize(f).toString());
                w.put("size", Files.size(f));
                w.put("mtime", Files.getLastModifiedTime(f).toInstant().toString());
                w.put("header_sha256", f.getFileName().toString().endsWith(".json") ? Sha256.ofFile(f) : headerSha256(f));
            }
            ObjectNode side = o.putObject("files");
            for (String name : SIDE_FILES) {
                Path f = real.resolve(name);
                if (Files.isRegularFile(f)) {
                    side.put(name, Sha256.ofFile(f));
                }
            }
            return o;
        } catch (IOException e) {
            throw new UncheckedIOException("reading the identity of model directory " + modelDir + ": " + e, e);
        }
    }

    /** SHA-256 of the 8-byte length and the JSON header of a safetensors file. */
    static String headerSha256(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, len, file);
            long n = len.flip().getLong();
            if (n <= 0 || n > MAX_HEADER_BYTES || 8 + n > ch.size()) {
                throw new ModelFormatException(file + ": not a safetensors file (header length " + n + ", file size "
                        + ch.size() + ")");
            }
            ByteBuffer header = ByteBuffer.allocate((int) n);
            readFully(ch, header, file);
            MessageDigest digest = Sha256.digest();
            digest.update(len.flip());
            digest.update(header.flip());
            return HexFormat.of().formatHex(digest.digest());
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, Path file) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf) < 0) {
                throw new ModelFormatException(file + ": truncated safetensors header");
            }
        }
    }
}
