package io.trtllm.engine;

import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.SequencedSet;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import javax.management.JMException;
import javax.management.ObjectName;

/**
 * Runs the shapes an engine will serve until the JIT has compiled them: rounds of a prefill chunk, a
 * single-sequence decode, a small and a large batched decode on scratch KV blocks, until two rounds in a
 * row took about the same time as the round before and the JIT compiled next to nothing meanwhile, or
 * the JIT sat idle through {@value #IDLE_ROUNDS} rounds in a row, or the time budget is spent.
 *
 * <p>Why shapes and not a count: a prefill runs the eight-token matmul microkernels and the four-row
 * attention tile that a one-token decode never reaches, and a batch of decodes runs the matmuls over
 * many rows; the JIT compiles each path (and deoptimizes code whose profile never saw it) only once it
 * has run. Warming up decode alone left the first 128-token prompt of a fresh JVM at 40% of its warm
 * speed (docs/PERFORMANCE.md). Why the JIT's compile time as well as the timings: a C2 compile of the
 * big kernels runs beside the passes for a while, and passes that are equally slow before it lands
 * would look settled. Why the JIT's idleness alone as well: on a busy machine two passes rarely agree
 * within 10% however compiled they are (a load average of 8-13 on two cores kept a 30 s warm-up from
 * settling, docs/PERFORMANCE.md), while a JIT with nothing queued, nothing compiling and nothing compiled
 * for rounds on end has compiled what these shapes reach.
 */
public final class WarmUp {
    /** Property: the warm-up's time budget in milliseconds (default {@value #DEFAULT_BUDGET_MILLIS}); 0 turns it off. */
    public static final String BUDGET_PROPERTY = "trtllm.warmup.millis";
    /**
     * Default budget: a stories15M-sized model on two quiet cores settles in 1–6 s; at a load average of 7–8 the JIT
     * took 16–20 s to finish, and a warm-up cut at 6 s left the first 128-token prompt at 0.07× its warm speed (0.83×
     * after 18.6 s, docs/PERFORMANCE.md). A large model stops here.
     */
    static final long DEFAULT_BUDGET_MILLIS = 20_000;
    /** Prompt tokens of the warm-up prefill: not a multiple of 8 or 4, so that the kernels' tails run too. */
    static final int PREFILL_TOKENS = 125;
    /**
     * Prompt tokens of the first rounds' prefill: the same kernels and tails on a tenth of the work while
     * they are still interpreted (a cold 125-token pass alone took seconds on a busy machine).
     */
    static final int FIRST_PREFILL_TOKENS = 13;
    /** Rounds that run the short prefill. */
    static final int FIRST_ROUNDS = 2;
    /** Sequences of the batched decode (at most max_batch_size). */
    static final int BATCH_ROWS = 16;
    /**
     * Sequences of the small batched decode, run where max_batch_size allows more: a full group of the
     * matmul's eight-token microkernel plus a tail of three, under the 16 rows from which quantized
     * matmuls convert each panel once (a different kernel), as a few concurrent requests decode.
     */
    static final int SMALL_BATCH_ROWS = 11;
    /** Decode passes per shape and round. */
    static final int DECODE_STEPS = 8;
    /** Rounds that always run, whatever the timings say. */
    static final int MIN_ROUNDS = 3;
    /** How close a round must come to the one before, in each shape, to count as settled. */
    static final double TOLERANCE = 0.10;
    /** The most JIT compile time a settled round may see, as a share of its own time. */
    static final double QUIET_COMPILES = 0.05;
    /** Full rounds in a row, each ending with the JIT idle and none of them compiling, that settle a warm-up alone. */
    static final int IDLE_ROUNDS = 3;

    /**
     * One kind of forward pass the warm-up ran.
     *
     * @param sequences rows of the batch
     * @param tokens    tokens of the batch, all rows together
     */
    public record Shape(int sequences, int tokens) {
        /** Whether this is a prompt's pass (more tokens than sequences) rather than a decode step. */
        public boolean prefill() {
            return tokens > sequences;
        }

        @Override
        public String toString() {
            return prefill() ? "prefill " + tokens + (sequences == 1 ? "" : " in " + sequences)
                    : "decode " + sequences;
        }
    }

    /**
     * What a warm-up did.
     *
     * @param rounds  rounds run
     * @param settled whether the last rounds agreed or the JIT sat idle through them (false: the budget ran out first)
     * @param jitIdle whether it settled by the JIT's idleness alone (the timings did not agree: a busy machine)
     * @param elapsed time spent
     * @param prefill the last round's prefill pass ({@code prefillTokens} tokens)
     * @param decode  the last round's single-sequence decode pass
     * @param batch   the last round's batched decode pass ({@code batchRows} sequences)
     * @param shapes  each kind of pass that ran, in the order it first ran
     */
    public record Result(int rounds, boolean settled, boolean jitIdle, Duration elapsed, int prefillTokens, Duration prefill,
                         Duration decode, int batchRows, Duration batch, List<Shape> shapes) {
        public Result {
            shapes = List.copyOf(shapes);
        }

        /** What a warm-up that did not run returns. */
        static Result none() {
            return new Result(0, false, false, Duration.ZERO, 0, Duration.ZERO, Duration.ZERO, 0, Duration.ZERO, List.of());
        }
    }

    private final ModelRunner runner;
    private final int maxSeqLen;
    private final int prefillTokens;
    private final int batchRows;
    private final int[][] tables;
    /** Nanoseconds (System.nanoTime, or a test's clock). */
    private final LongSupplier clock;
    /** The JIT's total compile time in ms so far (a test's counter, or 0 where the JVM does not tell). */
    private final LongSupplier compileMillis;
    /** Whether the JIT has nothing queued and nothing compiling (a test's flag; false where the JVM does not tell). */
    private final BooleanSupplier jitIdle;
    /** The kinds of pass that ran, from the batches handed to the runner. */
    private final SequencedSet<Shape> shapes = new LinkedHashSet<>();

    /**
     * @param maxSeqLen    the longest sequence the runner serves
     * @param maxBatchSize most sequences in one of its passes
     * @param maxNumTokens most tokens in one of its passes
     */
    WarmUp(ModelRunner runner, int maxSeqLen, int maxBatchSize, int maxNumTokens) {
        this(runner, maxSeqLen, maxBatchSize, maxNumTokens, System::nanoTime, jitCompileMillis(), JitQueue.probe());
    }

    WarmUp(ModelRunner runner, int maxSeqLen, int maxBatchSize, int maxNumTokens, LongSupplier clock,
           LongSupplier compileMillis) {
        this(runner, maxSeqLen, maxBatchSize, maxNumTokens, clock, compileMillis, () -> false);
    }

    WarmUp(ModelRunner runner, int maxSeqLen, int maxBatchSize, int maxNumTokens, LongSupplier clock,
           LongSupplier compileMillis, BooleanSupplier jitIdle) {
        this.runner = runner;
        this.clock = clock;
        this.compileMillis = compileMillis;
        this.jitIdle = jitIdle;
        this.maxSeqLen = maxSeqLen;
        var kv = runner.kvCache();
        // Each batched sequence gets blocks of its own (rows sharing a slot would race on its keys); the
        // decode positions wrap within the first sequence's table, which spans max_seq_len.
        int perRow = kv.blocksFor(Math.min(maxSeqLen, 2 * DECODE_STEPS));
        int full = kv.blocksFor(maxSeqLen);
        this.batchRows = Math.max(1, Math.min(Math.min(BATCH_ROWS, maxBatchSize), 1 + (kv.numBlocks() - full) / perRow));
        this.prefillTokens = Math.max(1, Math.min(PREFILL_TOKENS, Math.min(maxNumTokens, maxSeqLen - 1)));
        this.tables = new int[batchRows][];
        int next = 0;
        for (int r = 0; r < batchRows; r++) {
            tables[r] = new int[r == 0 ? full : perRow];
            for (int i = 0; i < tables[r].length; i++) {
                tables[r][i] = next++;
            }
        }
    }

    /** The JIT's total compile time in ms so far, or a counter that stays 0 where the JVM does not tell. */
    public static LongSupplier jitCompileMillis() {
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        return jit != null && jit.isCompilationTimeMonitoringSupported() ? jit::getTotalCompilationTime : () -> 0;
    }

    /**
     * Whether the JIT has nothing queued and nothing compiling now, through the {@code compilerQueue} diagnostic command;
     * a probe that always answers false where the JVM has no such command.
     */
    public static BooleanSupplier jitIdle() {
        return JitQueue.probe();
    }

    /**
     * Whether every one of {@code methods} ({@code package.Class.method}, any overload) has compiled code in use now,
     * through the {@code compilerCodelist} diagnostic command (what {@code jcmd <pid> Compiler.codelist} prints); a
     * probe that always answers true where the JVM has no such command (nothing to wait for that it could see).
     */
    public static BooleanSupplier compiled(java.util.Collection<String> methods) {
        var wanted = java.util.Set.copyOf(methods);
        try {
            var server = ManagementFactory.getPlatformMBeanServer();
            var name = new ObjectName("com.sun.management:type=DiagnosticCommand");
            server.getMBeanInfo(name);
            return () -> {
                try {
                    return CodeList.compiled(String.valueOf(server.invoke(name, "compilerCodelist", new Object[] {null},
                            new String[] {String[].class.getName()})), wanted);
                } catch (JMException | RuntimeException e) {
                    return true;
                }
            };
        } catch (JMException | RuntimeException | LinkageError e) {
            return () -> true;
        }
    }

    /** The budget that {@value #BUDGET_PROPERTY} sets, or the default. */
    public static Duration budget() {
        String value = System.getProperty(BUDGET_PROPERTY);
        if (value == null || value.isBlank()) {
            return Duration.ofMillis(DEFAULT_BUDGET_MILLIS);
        }
        try {
            long millis = Long.parseLong(value.strip());
            if (millis >= 0) {
                return Duration.ofMillis(millis);
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("system property " + BUDGET_PROPERTY + " must be a number of milliseconds >= 0, got '"
                + value + "'");
    }

    /**
     * Rounds until settled or {@code budget} is spent; at least one full round (every shape once, the full prefill
     * included), since the first requests would pay for it anyway.
     */
    Result run(Duration budget) {
        long start = clock.getAsLong();
        long limit = budget.toNanos();
        long[] previous = null;
        int rounds = 0;
        int agreeing = 0;
        int idle = 0;
        boolean ranFull = false;
        long[] times;
        int lastPrompt;
        do {
            boolean full = rounds >= FIRST_ROUNDS || prefillTokens <= FIRST_PREFILL_TOKENS;
            long compiled = compileMillis.getAsLong();
            long roundStart = clock.getAsLong();
            lastPrompt = full ? prefillTokens : FIRST_PREFILL_TOKENS;
            times = round(rounds, lastPrompt);
            long roundNanos = clock.getAsLong() - roundStart;
            long compiling = compileMillis.getAsLong() - compiled;
            rounds++;
            boolean quiet = compiling * 1_000_000L <= QUIET_COMPILES * roundNanos;
            agreeing = full && quiet && previous != null && agrees(previous, times) ? agreeing + 1 : 0;
            idle = full && compiling == 0 && jitIdle.getAsBoolean() ? idle + 1 : 0;
            previous = full ? times : null;
            ranFull |= full;
        } while (!(rounds >= MIN_ROUNDS && (agreeing >= 2 || idle >= IDLE_ROUNDS))
                && (clock.getAsLong() - start < limit || !ranFull));
        boolean agreed = rounds >= MIN_ROUNDS && agreeing >= 2;
        boolean settledIdle = rounds >= MIN_ROUNDS && idle >= IDLE_ROUNDS;
        return new Result(rounds, agreed || settledIdle, settledIdle && !agreed, Duration.ofNanos(clock.getAsLong() - start),
                lastPrompt, Duration.ofNanos(times[0]), Duration.ofNanos(times[1]), batchRows, Duration.ofNanos(times[2]),
                List.copyOf(shapes));
    }

    /** Whether each shape's time is within {@link #TOLERANCE} of the round before. */
    static boolean agrees(long[] before, long[] now) {
        for (int i = 0; i < now.length; i++) {
            if (Math.abs(now[i] - before[i]) > TOLERANCE * Math.min(now[i], before[i])) {
                return false;
            }
        }
        return true;
    }

    /**
     * One round: the prefill of {@code promptTokens}, then {@link #DECODE_STEPS} single-sequence decodes (greedy, as most
     * requests), then as many batched ones of {@link #SMALL_BATCH_ROWS} rows where {@code batchRows} is larger, then
     * of {@code batchRows} rows (half the rows asking for their logits row, as sampled requests do). Returns nanoseconds
     * per pass of the prefill, the single decode, the large batch and the small one (0 where it did not run).
     */
    private long[] round(int round, int promptTokens) {
        int vocab = runner.config().vocabSize();
        int[] prompt = new int[promptTokens];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = (round * 31 + i * 7 + 3) % vocab;
        }
        long t0 = clock.getAsLong();
        forward(Batch.of(new SequenceChunk(prompt, 0, tables[0], LogitsMode.LAST)));
        long t1 = clock.getAsLong();
        int room = maxSeqLen - promptTokens;
        for (int i = 0; i < DECODE_STEPS; i++) {
            int position = room > 0 ? promptTokens + (round * DECODE_STEPS + i) % room : maxSeqLen - 1;
            forward(Batch.of(new SequenceChunk(new int[] {(i + 1) % vocab}, position, tables[0], LogitsMode.ARGMAX)));
        }
        long t2 = clock.getAsLong();
        if (batchRows > SMALL_BATCH_ROWS) {
            for (int i = 0; i < DECODE_STEPS; i++) {
                forward(decodeBatch(SMALL_BATCH_ROWS, i, vocab));
            }
        }
        long t3 = clock.getAsLong();
        for (int i = 0; i < DECODE_STEPS; i++) {
            forward(decodeBatch(batchRows, i, vocab));
        }
        long t4 = clock.getAsLong();
        return new long[] {t1 - t0, (t2 - t1) / DECODE_STEPS, (t4 - t3) / DECODE_STEPS, (t3 - t2) / DECODE_STEPS};
    }

    /** Decode step {@code step} of the first {@code rows} scratch sequences, each on blocks of its own. */
    private Batch decodeBatch(int rows, int step, int vocab) {
        List<SequenceChunk> chunks = new ArrayList<>(rows);
        for (int r = 0; r < rows; r++) {
            int span = tables[r].length * runner.kvCache().blockSize();
            int position = r == 0 ? Math.min(maxSeqLen - 1, step) : Math.min(span - 1, step);
            chunks.add(new SequenceChunk(new int[] {(r + step + 2) % vocab}, position, tables[r],
                    r % 2 == 0 ? LogitsMode.ARGMAX : LogitsMode.LAST));
        }
        return new Batch(chunks);
    }

    private void forward(Batch batch) {
        runner.forward(batch);
        shapes.add(new Shape(batch.chunks().size(), batch.tokenCount()));
    }

    /**
     * The JIT's compile queues, through the {@code compilerQueue} diagnostic command (what {@code jcmd
     * <pid> Compiler.queue} prints): idle when nothing is compiling and every queue is empty.
     */
    static final class JitQueue {
        private JitQueue() {
        }

        /** A probe of this JVM's queues, or one that always answers "not idle" where the JVM has no such command. */
        static BooleanSupplier probe() {
            try {
                var server = ManagementFactory.getPlatformMBeanServer();
                var name = new ObjectName("com.sun.management:type=DiagnosticCommand");
                BooleanSupplier probe = () -> {
                    try {
                        return idle(String.valueOf(server.invoke(name, "compilerQueue", new Object[] {null},
                                new String[] {String[].class.getName()})));
                    } catch (JMException | RuntimeException e) {
                        return false;
                    }
                };
                server.getMBeanInfo(name); // throws here, not in every round, where the command is missing
                return probe;
            } catch (JMException | RuntimeException | LinkageError e) {
                return () -> false;
            }
        }

        /**
         * Whether {@code compilerQueue}'s text says the JIT is idle: under "Current compiles:" no task, and each
         * "... compile queue:" says "Empty". Any line it does not know counts as work.
         */
        static boolean idle(String queue) {
            boolean sawHeader = false;
            for (String line : queue.lines().map(String::strip).toList()) {
                if (line.isEmpty() || line.equals("Empty")) {
                    continue;
                }
                if (line.startsWith("Current compiles:") || line.endsWith("compile queue:")) {
                    sawHeader = true;
                    continue;
                }
                return false;
            }
            return sawHeader;
        }
    }

    /** The JIT's code list: one line per compiled method, {@code <compile id> <tier> <state> <class.method(signature)> [...]}. */
    static final class CodeList {
        /** {@code nmethod::in_use}: the state of code that runs (not yet made not entrant). */
        private static final String IN_USE = "0";

        private CodeList() {
        }

        /** Whether each of {@code methods} has a line in {@code codeList} whose code is in use. */
        static boolean compiled(String codeList, java.util.Set<String> methods) {
            var found = new java.util.HashSet<String>();
            for (String line : codeList.lines().toList()) {
                String[] fields = line.strip().split(" ", 5);
                if (fields.length < 4 || !fields[2].equals(IN_USE)) {
                    continue;
                }
                int paren = fields[3].indexOf('(');
                String method = paren < 0 ? fields[3] : fields[3].substring(0, paren);
                if (methods.contains(method)) {
                    found.add(method);
                }
            }
            return found.size() == methods.size();
        }
    }
}
