package io.trtllm.engine;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.trtllm.model.Checkpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An engine loaded in this process, reference-counted and registered by directory in a Caffeine
 * cache so that every {@code LLM} of the same engine maps its weights once. The last release
 * unmaps the weights, releases the in-use lock and, for a private (uncached) engine, deletes it.
 */
final class LoadedEngine {
    private static final Logger LOG = LoggerFactory.getLogger(LoadedEngine.class);

    /** Loaded engines by directory; entries leave when their last lease closes (explicit counting, no expiry). */
    private static final Cache<Path, LoadedEngine> LOADED = Caffeine.newBuilder().build();

    private final Path directory;
    private final EngineConfig config;
    private final Checkpoint weights;
    private final @Nullable FileChannel inUseChannel;
    private final @Nullable FileLock inUseLock;
    private final boolean deleteOnRelease;
    private int references = 1; // guarded by LOADED's monitor (see retain/release)

    private LoadedEngine(Path directory, EngineConfig config, Checkpoint weights, @Nullable FileChannel inUseChannel,
                         @Nullable FileLock inUseLock, boolean deleteOnRelease) {
        this.directory = directory;
        this.config = config;
        this.weights = weights;
        this.inUseChannel = inUseChannel;
        this.inUseLock = inUseLock;
        this.deleteOnRelease = deleteOnRelease;
    }

    /** The engine of {@code dir} if this process has it loaded, with one more reference; else null. */
    static @Nullable LoadedEngine retain(Path dir) {
        synchronized (LOADED) {
            LoadedEngine e = LOADED.getIfPresent(dir);
            if (e != null) {
                e.references++;
            }
            return e;
        }
    }

    /**
     * Maps {@code dir}'s engine (already verified by the caller) and registers it.
     *
     * @param inUseFile       the cache's in-use lock file to hold shared while loaded, or null (prebuilt engines)
     * @param deleteOnRelease whether the directory is private to this load and deleted after the last release
     */
    static LoadedEngine open(Path dir, @Nullable Path inUseFile, boolean deleteOnRelease) {
        EngineConfig config = EngineConfig.read(dir);
        FileChannel channel = null;
        FileLock lock = null;
        Checkpoint weights = null;
        try {
            if (inUseFile != null) {
                channel = FileChannel.open(inUseFile, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
                lock = channel.lock(0, Long.MAX_VALUE, true);
            }
            weights = Checkpoint.open(dir);
            LoadedEngine e = new LoadedEngine(dir, config, weights, channel, lock, deleteOnRelease);
            if (!deleteOnRelease) {
                synchronized (LOADED) {
                    LOADED.put(dir, e);
                }
            }
            return e;
        } catch (IOException | RuntimeException ex) {
            if (weights != null) {
                weights.close();
            }
            closeQuietly(channel);
            if (ex instanceof IOException io) {
                throw new UncheckedIOException("loading engine " + dir + ": " + io, io);
            }
            throw (RuntimeException) ex;
        }
    }

    /** Forgets the registration of {@code dir} (its entry is being replaced); holders keep their mapping. */
    static void detach(Path dir) {
        synchronized (LOADED) {
            LOADED.invalidate(dir);
        }
    }

    /** Whether this process has {@code dir} loaded. */
    static boolean isLoaded(Path dir) {
        synchronized (LOADED) {
            return LOADED.getIfPresent(dir) != null;
        }
    }

    void release() {
        synchronized (LOADED) {
            if (--references > 0) {
                return;
            }
            LOADED.asMap().remove(directory, this);
        }
        weights.close();
        closeQuietly(inUseChannel); // releases the in-use lock with it
        if (deleteOnRelease) {
            EngineBuilder.deleteTree(directory);
        }
        LOG.debug("Unloaded engine {}", directory);
    }

    int references() {
        synchronized (LOADED) {
            return references;
        }
    }

    Path directory() {
        return directory;
    }

    EngineConfig config() {
        return config;
    }

    Checkpoint weights() {
        return weights;
    }

    boolean holdsInUseLock() {
        return inUseLock != null && inUseLock.isValid();
    }

    private static void closeQuietly(@Nullable FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                LOG.debug("closing {}: {}", channel, e.toString());
            }
        }
    }
}
