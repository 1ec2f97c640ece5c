package io.trtllm.engine;

import io.trtllm.api.config.EngineLoad;
import io.trtllm.model.Checkpoint;
import io.trtllm.runtime.cuda.CompiledKernels;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;

/**
 * One user's hold on a loaded engine. The engine's mapped weights are shared by every lease of the
 * same directory in this process and unmapped when the last lease closes; while any is open the
 * cache entry counts as in use (a shared file lock) and is never evicted.
 */
public final class EngineLease implements AutoCloseable {
    private final LoadedEngine engine;
    private final EngineLoad load;
    private final @Nullable Runnable afterRelease;
    private final AtomicBoolean closed = new AtomicBoolean();

    EngineLease(LoadedEngine engine, EngineLoad load) {
        this(engine, load, null);
    }

    /** A lease that runs {@code afterRelease} once its engine is released (a private engine's owner lock). */
    EngineLease(LoadedEngine engine, EngineLoad load, @Nullable Runnable afterRelease) {
        this.engine = engine;
        this.load = load;
        this.afterRelease = afterRelease;
    }

    /** The engine's config.json. */
    public EngineConfig config() {
        return engine.config();
    }

    /**
     * The engine's weights, mapped; valid until this lease (and every other on the engine) is closed.
     *
     * @throws IllegalStateException for an engine split over ranks (see {@link #rankWeights})
     */
    public Checkpoint weights() {
        return engine.weights();
    }

    /**
     * Rank {@code rank}'s weights of an engine split over ranks ({@code config().mapping()}): its
     * {@link io.trtllm.model.RankShard} named and shaped as a model of the shard's local config, in the backend's
     * layout. Valid as {@link #weights()}.
     */
    public Checkpoint rankWeights(int rank) {
        return engine.rankWeights(rank);
    }

    /**
     * The CUDA kernels the engine carries (compiled for {@code config().device().arch()}), or null: a CPU
     * engine, or a CUDA engine built for any GPU.
     */
    public @Nullable CompiledKernels kernels() {
        return engine.kernels();
    }

    /** The engine directory. */
    public Path directory() {
        return engine.directory();
    }

    /** How the engine came to be loaded (built, loaded from cache, shared, prebuilt). */
    public EngineLoad load() {
        return load;
    }

    /** How many leases hold this engine in this process (for tests and diagnostics). */
    public int sharedBy() {
        return engine.references();
    }

    /** Releases this hold; the last one unmaps the weights and releases the in-use lock. Idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            try {
                engine.release();
            } finally {
                if (afterRelease != null) {
                    afterRelease.run();
                }
            }
        }
    }
}
