package io.trtllm.engine;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** A tiny random-weight Llama checkpoint (the llama3 parity fixture, 364 KB) copied where a test wants it. */
final class TinyModels {
    private TinyModels() {
    }

    static Path llama(Path dir) {
        try {
            Files.createDirectories(dir);
            for (String f : List.of("config.json", "generation_config.json", "model.safetensors")) {
                try (InputStream in = TinyModels.class.getResourceAsStream("/parity/llama3/" + f)) {
                    if (in == null) {
                        throw new IllegalStateException("missing test resource parity/llama3/" + f);
                    }
                    Files.copy(in, dir.resolve(f));
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
