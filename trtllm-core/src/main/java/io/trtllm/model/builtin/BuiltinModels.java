package io.trtllm.model.builtin;

import java.nio.file.Path;
import java.util.List;

/** Models that ship with trtllm: fetched from a package registry and converted once, on first use. */
public final class BuiltinModels {
    // TODO(helper): implement

    /** Names accepted as {@code model} for builtin models. */
    public static final List<String> NAMES = List.of("stories15M");

    private BuiltinModels() {
    }

    public static boolean isBuiltin(String model) {
        return NAMES.contains(model);
    }

    /**
     * Returns the Hugging Face directory of builtin model {@code name} under {@code cacheRoot}
     * ({@code <cacheRoot>/models/<name>}), fetching and converting it first if it is not there.
     */
    public static Path resolve(String name, Path cacheRoot) {
        throw new UnsupportedOperationException("TODO");
    }
}
