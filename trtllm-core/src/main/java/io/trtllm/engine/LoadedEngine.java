package io.trtllm.engine;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.CheckpointValidator;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.Parallelism;
import io.trtllm.model.RankShard;
import io.trtllm.runtime.cuda.CompiledKernels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
    /** The weights of each rank (one for an engine of one rank), in rank order. */
    private final List<Checkpoint> weights;
    private final @Nullable CompiledKernels kernels;
    private final @Nullable Path inUseFile;
    private final boolean deleteOnRelease;
    private int references = 1; // guarded by LOADED's monitor (see retain/release)

    private LoadedEngine(Path directory, EngineConfig config, List<Checkpoint> weights, @Nullable CompiledKernels kernels,
                         @Nullable Path inUseFile, boolean deleteOnRelease) {
        this.directory = directory;
        this.config = config;
        this.weights = weights;
        this.kernels = kernels;
        this.inUseFile = inUseFile;
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
        // A split engine carries no kernels (its ranks compile theirs at load: EngineBuilder), a single one its cubin.
        CompiledKernels kernels = config.mapping().single() ? EngineKernels.read(dir, config.device()) : null;
        boolean marked = false;
        List<Checkpoint> weights = new ArrayList<>();
        try {
            if (inUseFile != null) {
                markInUse(inUseFile);
                marked = true;
            }
            Parallelism mapping = config.mapping();
            if (mapping.single()) {
                weights.add(Checkpoint.open(dir));
                // The runner allocates per layer of the config: a count the weights do not bear out fails here, by name.
                CheckpointValidator.checkLayerCount(config.modelConfig(), weights.getFirst(), dir.resolve(EngineConfig.FILE));
            } else {
                List<RankShard> shards;
                try {
                    shards = mapping.shards(config.modelConfig());
                } catch (IllegalArgumentException e) {
                    throw new ModelFormatException(dir.resolve(EngineConfig.FILE) + ": mapping " + mapping
                            + " does not fit the model: " + e.getMessage(), e);
                }
                for (RankShard shard : shards) {
                    Path rankDir = dir.resolve(EngineConfig.rankDirectory(shard.rank()));
                    weights.add(Checkpoint.open(rankDir));
                    CheckpointValidator.checkLayerCount(shard.localConfig(), weights.getLast(), rankDir);
                }
            }
            LoadedEngine e = new LoadedEngine(dir, config, List.copyOf(weights), kernels, inUseFile, deleteOnRelease);
            if (!deleteOnRelease) {
                synchronized (LOADED) {
                    LOADED.put(dir, e);
                }
            }
            return e;
        } catch (IOException | RuntimeException ex) {
            weights.forEach(Checkpoint::close);
            if (marked) {
                unmarkInUse(inUseFile);
            }
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
        weights.forEach(Checkpoint::close);
        if (inUseFile != null) {
            unmarkInUse(inUseFile);
        }
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

    /** The weights of an engine of one rank. */
    Checkpoint weights() {
        if (weights.size() != 1) {
            throw new IllegalStateException("engine " + directory + " is split over ranks (" + config.mapping()
                    + "): its weights are per rank");
        }
        return weights.getFirst();
    }

    /** Rank {@code rank}'s weights (rank 0's are the whole engine's for an engine of one rank). */
    Checkpoint rankWeights(int rank) {
        return weights.get(rank);
    }

    @Nullable CompiledKernels kernels() {
        return kernels;
    }

    /**
     * In-use markers held by this process, counted: a JVM may lock a file only once, and an entry
     * replaced under a holder ({@code skip_build_cache}) shares its in-use file with the new one.
     */
    private static final Map<Path, InUse> IN_USE = new HashMap<>();

    private static final class InUse {
        final FileChannel channel;
        int count;

        InUse(FileChannel channel) {
            this.channel = channel;
        }
    }

    /**
     * Whether this process holds {@code file} as an in-use marker. Callers ask before opening another
     * channel on it: on Linux, closing any channel of a file drops every lock this process holds on it.
     */
    static boolean marksInUse(Path file) {
        synchronized (IN_USE) {
            return IN_USE.containsKey(file);
        }
    }

    /** Holds {@code file} with a shared lock (other processes' evictors then keep the entry) until unmarked. */
    private static void markInUse(Path file) throws IOException {
        synchronized (IN_USE) {
            InUse held = IN_USE.get(file);
            if (held == null) {
                FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                        StandardOpenOption.WRITE);
                try {
                    // Never waits in practice: evictors lock it exclusively only under the key lock our caller holds.
                    channel.lock(0, Long.MAX_VALUE, true);
                } catch (IOException | RuntimeException e) {
                    closeQuietly(channel);
                    throw e;
                }
                held = new InUse(channel);
                IN_USE.put(file, held);
            }
            held.count++;
        }
    }

    private static void unmarkInUse(Path file) {
        synchronized (IN_USE) {
            InUse held = IN_USE.get(file);
            if (held != null && --held.count == 0) {
                IN_USE.remove(file);
                closeQuietly(held.channel); // releases the lock with it
            }
        }
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
