package io.trtllm.model;

import java.nio.file.Path;
import java.util.Set;

/**
 * The weights of a Hugging Face model directory: {@code model.safetensors}, or the shards listed in
 * {@code model.safetensors.index.json}. Owns the mapped files; closing it unmaps them.
 */
public final class Checkpoint implements AutoCloseable {
    // TODO(helper): implement

    /** Opens the weights of {@code modelDir}; errors name the directory, file and tensor. */
    public static Checkpoint open(Path modelDir) {
        throw new UnsupportedOperationException("TODO");
    }

    public Path directory() {
        throw new UnsupportedOperationException("TODO");
    }

    public Set<String> names() {
        throw new UnsupportedOperationException("TODO");
    }

    public boolean contains(String name) {
        throw new UnsupportedOperationException("TODO");
    }

    /** A tensor by name; missing is a {@link ModelFormatException} naming the directory and tensor. */
    public Tensor tensor(String name) {
        throw new UnsupportedOperationException("TODO");
    }

    @Override
    public void close() {
        throw new UnsupportedOperationException("TODO");
    }
}
