package io.trtllm.cli;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.engine.EngineCache;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code trtllm cache list|clear}: the engine cache's entries, and the leftovers of interrupted builds. */
@Command(name = "cache", mixinStandardHelpOptions = true, description = "List or clear the engine cache.",
        subcommands = {CacheCommand.ListEntries.class, CacheCommand.Clear.class})
final class CacheCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
    }

    /** The cache-root option both subcommands share. */
    static final class Root {
        @Option(names = "--cache-dir", description = "Cache root to act on: when given, exactly this one, even if "
                + "$TRTLLM_CACHE_DIR is set (default $TRTLLM_CACHE_DIR, else ~/.cache/trtllm).")
        Path cacheDir;

        EngineCache cache() {
            // A command that lists or deletes acts on the directory it was given, never on another one.
            return cacheDir != null ? new EngineCache(cacheDir, BuildCacheConfig.defaults(), java.time.Clock.systemUTC())
                    : EngineCache.of(BuildCacheConfig.defaults(), null);
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List engines, least recently used first; remove the leftovers of interrupted builds and list any "
            + "that must stay.")
    static final class ListEntries implements Runnable {
        @CommandLine.Mixin
        Root root;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public void run() {
            PrintWriter out = spec.commandLine().getOut();
            EngineCache cache = root.cache();
            EngineCache.Sweep sweep = cache.sweep();
            List<EngineCache.Entry> entries = cache.list();
            out.printf(Locale.ROOT, "%s: %d engine(s), %.1f MiB%n", cache.directory(), entries.size(),
                    entries.stream().mapToLong(EngineCache.Entry::sizeBytes).sum() / 1048576.0);
            for (EngineCache.Entry e : entries) {
                var b = e.buildConfig();
                var d = e.device();
                String build = b == null ? "?" : b.path("dtype").asText() + " " + b.path("quantization").asText()
                        + " max_seq_len " + b.path("max_seq_len").asText() + " max_input_len " + b.path("max_input_len").asText()
                        + (d == null ? "" : " " + d.path("backend").asText() + " " + d.path("arch").asText()
                                + (d.path("backend").asText().equals("cpu") ? " " + d.path("vector_bits").asText() + "-bit" : ""));
                out.printf(Locale.ROOT, "%s  %8.1f MiB  last used %s%s  %s  %s%n", e.key(), e.sizeBytes() / 1048576.0,
                        e.lastUsed(), e.inUse() ? "  in use" : "", build, e.model());
            }
            printSweep(out, sweep);
        }
    }

    /** What a sweep removed (one line) and every leftover it kept, with why: the cache hides nothing it holds. */
    static void printSweep(PrintWriter out, EngineCache.Sweep sweep) {
        if (!sweep.removed().isEmpty()) {
            out.printf(Locale.ROOT, "removed %d leftover(s) of interrupted builds, %.1f MiB%n", sweep.removed().size(),
                    sweep.removedBytes() / 1048576.0);
        }
        for (EngineCache.Leftover l : sweep.kept()) {
            out.printf(Locale.ROOT, "leftover %s  %8.1f MiB  kept: %s%n", l.path().getFileName(), l.sizeBytes() / 1048576.0,
                    l.keptBecause());
        }
    }

    @Command(name = "clear", mixinStandardHelpOptions = true, description = "Remove every engine that is not in use, and the leftovers of interrupted builds.")
    static final class Clear implements Runnable {
        @CommandLine.Mixin
        Root root;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public void run() {
            EngineCache cache = root.cache();
            EngineCache.Sweep sweep = cache.sweep();
            int before = cache.list().size();
            List<String> removed = cache.clear();
            PrintWriter out = spec.commandLine().getOut();
            out.printf(Locale.ROOT, "removed %d engine(s) from %s%s%n", removed.size(),
                    cache.directory(), before > removed.size() ? "; " + (before - removed.size()) + " in use, kept" : "");
            printSweep(out, sweep);
        }
    }
}
