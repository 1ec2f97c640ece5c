package io.trtllm.engine;

import io.trtllm.api.config.LoadTimes;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.tokenizer.Tokenizer;
import java.nio.file.Path;

/**
 * A model ready to serve, as {@link EngineLoader#load} leaves it: its engine, tokenizer and a warm
 * runner, and the limits a runtime holds requests to. Owns all three: {@link #close()} closes the
 * runner, then the tokenizer, then the engine lease (the last lease on an engine unmaps its weights).
 *
 * @param modelDirectory the model's directory: the checkpoint (for a builtin model its converted copy in the
 *                       cache, for a Hub id its snapshot), or the engine directory when a prebuilt engine was given
 * @param engine         the engine whose weights run
 * @param tokenizer      the model's tokenizer
 * @param runner         the runner over the engine's weights, warmed up, its KV cache allocated
 * @param maxSeqLen      longest prompt + output a request may have (at most the engine's)
 * @param maxInputLen    longest prompt (at most the engine's and max_seq_len)
 * @param loadTimes      where loading spent its time
 */
public record LoadedModel(Path modelDirectory, EngineLease engine, Tokenizer tokenizer, ModelRunner runner,
                          int maxSeqLen, int maxInputLen, LoadTimes loadTimes) implements AutoCloseable {

    @Override
    public void close() {
        runner.close();
        tokenizer.close();
        engine.close();
    }
}
