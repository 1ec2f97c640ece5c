package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.EngineStartFailure.Kind;
import io.trtllm.engine.CorruptEngineException;
import io.trtllm.engine.NoUsableDeviceException;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.hub.HubException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import org.junit.jupiter.api.Test;

/** Which engine failures a front end is told about as which kind, with the message that says it. */
class EngineStartFailureTests {

    @Test
    void eachEngineFailureIsClassifiedThroughWrappers() {
        assertThat(EngineStartFailure.of(new NoUsableDeviceException("backend 'cuda' needs a usable CUDA device: none")))
                .isEqualTo(new EngineStartFailure(Kind.NO_USABLE_GPU, "backend 'cuda' needs a usable CUDA device: none"));
        var unreachable = new HubException("cannot reach the Hugging Face Hub", 0, new ConnectException("refused"));
        assertThat(EngineStartFailure.of(new IllegalStateException("wrapped", unreachable)))
                .isEqualTo(new EngineStartFailure(Kind.HUB_UNREACHABLE, "cannot reach the Hugging Face Hub"));
        assertThat(EngineStartFailure.of(new HubException("https://huggingface.co/api/models/x/y: HTTP 404", 404, null)).kind())
                .isEqualTo(Kind.MODEL_NOT_FOUND);
        assertThat(EngineStartFailure.of(new HubException("HTTP 401", 401, null)).kind()).isEqualTo(Kind.MODEL_NOT_FOUND);
        assertThat(EngineStartFailure.of(new HubException("checksum mismatch")).kind()).isEqualTo(Kind.OTHER);
        assertThat(EngineStartFailure.of(new RuntimeException(new ModelFormatException("config.json: no hidden_size"))))
                .isEqualTo(new EngineStartFailure(Kind.BAD_CHECKPOINT, "config.json: no hidden_size"));
        assertThat(EngineStartFailure.of(new CorruptEngineException("rank0.safetensors: checksum")).kind())
                .isEqualTo(Kind.BAD_CHECKPOINT);
        assertThat(EngineStartFailure.of(new IllegalArgumentException("max_seq_len 9000 exceeds the engine's")).kind())
                .isEqualTo(Kind.BAD_LIMIT);
        assertThat(EngineStartFailure.of(new UncheckedIOException(new IOException("disk on fire"))))
                .isEqualTo(new EngineStartFailure(Kind.OTHER, "java.io.IOException: disk on fire"));
    }
}
