package io.trtllm.engine;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.function.Consumer;

/**
 * SHA-256 helpers: of bytes, of strings, of whole files (mapped, so any size; {@link #readMapped}
 * also feeds the engine manifest's CRC-32C).
 */
final class Sha256 {
    private static final long CHUNK = 1 << 24;

    private Sha256() {
    }

    static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    static String hex(byte[] bytes) {
        return HexFormat.of().formatHex(digest().digest(bytes));
    }

    static String hex(String text) {
        return hex(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Hash of the whole file's content. */
    static String ofFile(Path file) throws IOException {
        MessageDigest digest = digest();
        readMapped(file, digest::update);
        return HexFormat.of().formatHex(digest.digest());
    }

    /** Hands the whole content of {@code file} to {@code chunks} in order, through a mapping (so any size). */
    static void readMapped(Path file, Consumer<ByteBuffer> chunks) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            long size = ch.size();
            if (size > 0) {
                MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
                for (long off = 0; off < size; off += CHUNK) {
                    chunks.accept(all.asSlice(off, Math.min(CHUNK, size - off)).asByteBuffer());
                }
            }
        }
    }
}
