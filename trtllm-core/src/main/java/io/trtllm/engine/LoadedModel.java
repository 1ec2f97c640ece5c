package io.trtllm.engine;

import io.trtllm.api.config.LoadTimes;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.tokenizer.Tokenizer;
import org.jspecify.annotations.Nullable;
import java.nio.file.Path;

/**
 * A model ready to serve, as {@link EngineLoader#load} leaves it: its engine, tokenizer and a warm
 * runner, and the limits a runtime holds requests to. Owns all three: {@link #close()} closes the
 * runner, then the tokenizer, then the engine lease (the last lease on an engine unmaps its weights).
 *
 * @param modelDirectory the model's directory: the checkpoint (for a builtin model its converted copy in the
 *                       cache, for a Hub id its snapshot), or the engine directory when a prebuilt engine was given
 * @param engine         the engine whose weights run
 * @param tokenizer      the model's tokenizer, or null when none was loaded (the caller brought its own, or
 *                       works on token ids alone)
 * @param runner         the runner over the engine's weights, warmed up, its KV cache allocated
 * @param maxSeqLen      longest prompt + output a request may have (at most the engine's)
 * @param maxInputLen    longest prompt (at most the engine's and max_seq_len)
 * @param loadTimes      where loading spent its time
 * @param warmUp         what the runner's JIT warm-up ran, and whether it settled
 */
public record LoadedModel(Path modelDirectory, EngineLease engine, @Nullable Tokenizer tokenizer, ModelRunner runner,
                          int maxSeqLen, int maxInputLen, LoadTimes loadTimes, WarmUp.Result warmUp) implements AutoCloseable {

    @Override
    public void close() {
        runner.close();
        if (tokenizer != null) {
            tokenizer.close();
        }
        engine.close();
    }
}
