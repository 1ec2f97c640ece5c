package io.trtllm.runtime.cpu;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import javax.management.JMException;
import javax.management.ObjectName;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the request path's host code (the executor's step, the API's request tracking, the CPU runner's per-pass
 * orchestration) out of C2, HotSpot's optimizing compiler, through a compiler directive added once per JVM: C1 compiles
 * those methods, in a few milliseconds each, and the Vector API kernels and the parallel loops' bodies stay C2's.
 *
 * <p>Why: on a machine whose cores all run the forward pass's threads (two, on a small cloud machine), a C2 compile
 * takes one of those cores for its whole length, and every parallel region waits for the thread it displaced: a
 * decode step ran about five times slower for as long as a compile lasted. The orchestration methods reach C2's
 * threshold only after thousands of calls, well after the load-time warm-up, and C2 then spent 0.1-0.8 s each on
 * them ({@code CpuModelRunner.forward}, {@code Executor.step}, {@code Step.run}) during the first requests
 * (docs/PERFORMANCE.md); their own share of a step is small, so C1's code for them costs next to nothing.
 * Beam search's host code ({@code BeamGroup}) and sampling are left to C2: they loop over vocabulary rows.
 *
 * <p>Off by default, an experiment: {@value #PROPERTY}{@code =true} adds it. It removed those compiles from the first
 * requests (JFR), but in five alternating pairs of {@code bench --latency} the first requests after load came out
 * slower with it (first decode 0.60-0.73x the warm median, against 0.77-1.05x without), for reasons not found yet,
 * and the main job's median against llama2.c did not move (docs/PERFORMANCE.md). Where the JVM has no
 * {@code compilerDirectivesAdd} diagnostic command (not HotSpot), nothing happens.
 */
final class HostCodeDirective {
    private static final Logger LOG = LoggerFactory.getLogger(HostCodeDirective.class);

    /** Property: whether to add the directive (default false). */
    static final String PROPERTY = "trtllm.cpu.hostCodeC1";

    /** The methods kept from C2, as compiler directive patterns ({@code package/Class.method}, '*' at either end). */
    static final List<String> PATTERNS = List.of(
            "io/trtllm/executor/Executor*.*",
            "io/trtllm/executor/Step*.*",
            "io/trtllm/executor/Scheduler*.*",
            "io/trtllm/executor/Requests*.*",
            "io/trtllm/executor/KvCacheManager*.*",
            "io/trtllm/executor/Sequence*.*",
            "io/trtllm/executor/Pass*.*",
            "io/trtllm/api/*.*",
            "io/trtllm/runtime/cpu/CpuModelRunner.forward",
            "io/trtllm/runtime/cpu/CpuModelRunner.gateUpSilu",
            "io/trtllm/runtime/cpu/CpuModelRunner.rmsNormRows",
            "io/trtllm/runtime/cpu/CpuModelRunner.addToResidual",
            "io/trtllm/runtime/cpu/CpuAttention.run",
            "io/trtllm/runtime/cpu/CpuAttention.prepare",
            "io/trtllm/runtime/cpu/LogitsHead.logits");

    private static final AtomicBoolean ADDED = new AtomicBoolean();

    private HostCodeDirective() {
    }

    /** Adds the directive once per JVM where {@value #PROPERTY} is true. */
    static void addOnce() {
        if (Boolean.parseBoolean(System.getProperty(PROPERTY, "false")) && ADDED.compareAndSet(false, true)) {
            add();
        }
    }

    /** Adds the directive to this JVM's directive stack; logs why where it cannot. */
    static void add() {
        Path file = null;
        try {
            file = Files.createTempFile("trtllm-jit-", ".json");
            Files.writeString(file, json(PATTERNS), StandardCharsets.UTF_8);
            var server = ManagementFactory.getPlatformMBeanServer();
            Object reply = server.invoke(new ObjectName("com.sun.management:type=DiagnosticCommand"), "compilerDirectivesAdd",
                    new Object[] {new String[] {file.toString()}}, new String[] {String[].class.getName()});
            if (added(String.valueOf(reply))) {
                LOG.info("JIT: the request path's host code is left to C1 (-D{}=true)", PROPERTY);
            } else {
                LOG.info("JIT: the compiler directive for the request path's host code was refused: {}",
                        String.valueOf(reply).strip().lines().findFirst().orElse(""));
            }
        } catch (IOException | JMException | RuntimeException | LinkageError e) {
            LOG.debug("JIT: no compiler directive for the request path's host code ({})", e.toString());
        } finally {
            if (file != null) {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException e) {
                    LOG.debug("JIT: could not delete {}", file, e);
                }
            }
        }
    }

    /** The directive file's text: the patterns matched, C2 excluded for them (C1 as for any method). */
    static String json(List<String> patterns) {
        for (String p : patterns) {
            if (!p.matches("[A-Za-z0-9_/$*]+\\.[A-Za-z0-9_$<>*]+")) {
                throw new IllegalArgumentException("not a compiler directive pattern: '" + p + "'");
            }
        }
        return patterns.stream().map(p -> "\"" + p + "\"")
                .collect(Collectors.joining(", ", "[ { match: [", "], c2: { Exclude: true } } ]\n"));
    }

    /** Whether {@code compilerDirectivesAdd}'s reply says the directive was added ("1 compiler directives added"). */
    static boolean added(String reply) {
        return reply.strip().matches("[1-9][0-9]* compiler directives added");
    }
}
