package io.trtllm.engine;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import java.nio.file.Path;
import java.time.Clock;

/**
 * A child process of {@link EngineCacheCrashIT}: builds the engine of {@code args[1]} into the
 * engine cache at {@code args[0]} ({@code args[2]}: {@code cached} or {@code uncached}), prints
 * {@code building} after the first tensor is written and then waits there, mid-build, until it is
 * killed.
 */
public final class EngineBuildChild {
    private EngineBuildChild() {
    }

    public static void main(String[] args) throws InterruptedException {
        Path root = Path.of(args[0]);
        Path model = Path.of(args[1]);
        var cache = new EngineCache(root, new BuildCacheConfig(root, 10, Long.MAX_VALUE), Clock.systemUTC());
        BuildProgress stall = (tensors, totalTensors, bytes, totalBytes) -> {
            System.out.println("building " + tensors + "/" + totalTensors);
            System.out.flush();
            try {
                Thread.sleep(Long.MAX_VALUE);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        BuildConfig config = BuildConfig.builder(64).build();
        try (EngineLease lease = args[2].equals("uncached")
                ? cache.buildUncached(model, config, Device.cpu(), stall)
                : cache.acquire(model, config, Device.cpu(), false, stall)) {
            System.out.println("built " + lease.directory());
        }
    }
}
