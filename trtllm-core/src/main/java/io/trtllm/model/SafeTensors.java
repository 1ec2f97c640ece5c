package io.trtllm.model;

import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * One safetensors file, memory-mapped with FFM (no 2 GB limit, no copy on the heap). The header
 * is untrusted: {@link #open} validates it completely before any tensor is handed out.
 */
public final class SafeTensors implements AutoCloseable {
    // TODO(helper): implement

    /** Maps {@code file} read-only and validates its header; errors name the file and tensor. */
    public static SafeTensors open(Path file) {
        throw new UnsupportedOperationException("TODO");
    }

    public Path file() {
        throw new UnsupportedOperationException("TODO");
    }

    /** Tensor names in file order. */
    public Set<String> names() {
        throw new UnsupportedOperationException("TODO");
    }

    public boolean contains(String name) {
        throw new UnsupportedOperationException("TODO");
    }

    /** The tensor's mapped bytes; a missing name is a {@link ModelFormatException} naming file and tensor. */
    public Tensor tensor(String name) {
        throw new UnsupportedOperationException("TODO");
    }

    /** The header's {@code __metadata__} string map (empty when absent). */
    public Map<String, String> metadata() {
        throw new UnsupportedOperationException("TODO");
    }

    @Override
    public void close() {
        throw new UnsupportedOperationException("TODO");
    }
}
