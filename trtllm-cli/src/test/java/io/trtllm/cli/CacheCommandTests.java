package io.trtllm.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.engine.EngineCache;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What {@code trtllm cache list|clear} prints of a sweep: one line for what it removed, one per leftover it kept. */
class CacheCommandTests {

    private static String print(EngineCache.Sweep sweep) {
        var out = new StringWriter();
        CacheCommand.printSweep(new PrintWriter(out, true), sweep);
        return out.toString();
    }

    @Test
    void aSweepPrintsWhatItRemovedAndEveryLeftoverItKeptWithWhy() {
        Path engines = Path.of("cache", "engines");
        var removed = new EngineCache.Leftover(engines.resolve("..aa.staging.tmp-1"), 3 * 1048576L, null);
        var live = new EngineCache.Leftover(engines.resolve("..bb.staging.tmp-2"), 1048576L / 2,
                "a live process holds its lock .locks/bb.lock (building or using it)");
        var readOnly = new EngineCache.Leftover(engines.resolve("..cc.staging.tmp-3"), 300_000,
                "could not remove it: Read-only file system");

        assertThat(print(new EngineCache.Sweep(List.of(removed), List.of(live, readOnly)))).isEqualTo("""
                removed 1 leftover(s) of interrupted builds, 3.0 MiB
                leftover ..bb.staging.tmp-2       0.5 MiB  kept: a live process holds its lock .locks/bb.lock (building or using it)
                leftover ..cc.staging.tmp-3       0.3 MiB  kept: could not remove it: Read-only file system
                """);
        assertThat(print(new EngineCache.Sweep(List.of(), List.of()))).isEmpty();
    }
}
