package io.trtllm.runtime.cpu;

import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The CPU runner's decode pass by row count, on a real checkpoint (stories15M by default): one row that asks
 * for its argmax (a greedy step), four rows that ask for their logits rows (a beam-4 step), four rows
 * that ask for their argmax (the same matmuls without the rows coming back), and four rows asking for their logits
 * rows whose full blocks are shared as a beam group's common prefix is. Each round decodes
 * {@code steps} positions after a 5-token prompt in each mode, the modes interleaved, and keeps each mode's
 * median and minimum pass; prints every round and the ratios of the four-row passes to the one-row pass (medians,
 * minima in parentheses). The weights are the model directory's (packed at load, on ordinary pages), or a CPU
 * engine's (the fifth argument: mapped, then copied onto huge pages as the runner does for {@code trtllm bench}).
 * A benchmark, not a test.
 *
 * <p>Run: {@code scripts/bench-decode-pass.sh [model dir] [rounds] [steps] [threads] [engine dir]} (docs/PERFORMANCE.md).
 */
public final class DecodePassBench {
    private static final int BLOCK = 32;

    private DecodePassBench() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : System.getProperty("user.home") + "/.cache/trtllm/models/stories15M");
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        int steps = args.length > 2 ? Integer.parseInt(args[2]) : 100;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        Path weightsDir = args.length > 4 ? Path.of(args[4]) : dir;
        ModelConfig config = ModelConfig.load(dir);
        int blocksPerSeq = (5 + steps + BLOCK - 1) / BLOCK;
        try (var weights = Checkpoint.open(weightsDir);
             var runner = new CpuModelRunner(config, weights, new KvCacheSpec(4 * blocksPerSeq, BLOCK), threads)) {
            System.out.printf(Locale.ROOT, "%s, %s, %s, %d decode steps after a 5-token prompt, median (minimum) pass per round%n",
                    dir.getFileName(), runner.kernelDescription(), runner.weights().placement(), steps);
            System.out.println("| round | 1 row, argmax (µs) | 4 rows, logits rows (µs) | 4 rows, argmax (µs) | 4 rows sharing full "
                    + "blocks, logits rows (µs) | 4 rows logits / 1 row (minima) | sharing / 1 row (minima) |");
            System.out.println("|---|---|---|---|---|---|---|");
            for (int round = 0; round <= rounds; round++) {
                long[] one = decode(runner, 1, LogitsMode.ARGMAX, steps, blocksPerSeq, false);
                long[] beam = decode(runner, 4, LogitsMode.LAST, steps, blocksPerSeq, false);
                long[] four = decode(runner, 4, LogitsMode.ARGMAX, steps, blocksPerSeq, false);
                long[] shared = decode(runner, 4, LogitsMode.LAST, steps, blocksPerSeq, true);
                if (round > 0) { // round 0 warms the JIT up
                    System.out.printf(Locale.ROOT, "| %d | %s | %s | %s | %s | %.2f× (%.2f×) | %.2f× (%.2f×) |%n", round, cell(one),
                            cell(beam), cell(four), cell(shared), median(beam) / median(one), (double) min(beam) / min(one),
                            median(shared) / median(one), (double) min(shared) / min(one));
                }
            }
        }
    }

    /**
     * Nanoseconds of each decode pass of {@code rows} sequences after a prompt, each with its own blocks, or, when
     * {@code shareFullBlocks}, with the full blocks before each step's position taken from row 0's table as beams share
     * their common prefix (here: each block as soon as it is full; the rows then read row 0's keys and values there,
     * which changes what they compute, not what it costs).
     */
    private static long[] decode(CpuModelRunner runner, int rows, LogitsMode mode, int steps, int blocksPerSeq,
                                 boolean shareFullBlocks) {
        int[][] tables = new int[rows][blocksPerSeq];
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < blocksPerSeq; b++) {
                tables[r][b] = r * blocksPerSeq + b;
            }
        }
        int[] prompt = {1, 403, 2501, 263, 931};
        List<SequenceChunk> prefill = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            prefill.add(new SequenceChunk(prompt, 0, tables[r], LogitsMode.NONE));
        }
        runner.forward(new Batch(prefill));
        long[] times = new long[steps];
        int[] last = new int[rows];
        Arrays.fill(last, prompt[prompt.length - 1]);
        for (int step = 0; step < steps; step++) {
            List<SequenceChunk> chunks = new ArrayList<>(rows);
            int pos = prompt.length + step;
            for (int r = 0; r < rows; r++) {
                int[] table = tables[r];
                if (shareFullBlocks) {
                    table = table.clone();
                    System.arraycopy(tables[0], 0, table, 0, pos / BLOCK);
                }
                chunks.add(new SequenceChunk(new int[] {last[r]}, pos, table, mode));
            }
            Batch batch = new Batch(chunks);
            long t0 = System.nanoTime();
            var result = runner.forward(batch);
            times[step] = System.nanoTime() - t0;
            for (int r = 0; r < rows; r++) {
                last[r] = mode == LogitsMode.ARGMAX ? result.tokenId(r) : (7 * step + r) % 32000;
            }
            result.release(); // as the executor does after a step
        }
        return times;
    }

    /** "median (minimum)" in µs. */
    private static String cell(long[] times) {
        return String.format(Locale.ROOT, "%.1f (%.1f)", median(times) / 1e3, min(times) / 1e3);
    }

    private static long min(long[] times) {
        return Arrays.stream(times).min().orElseThrow();
    }

    private static double median(long[] times) {
        long[] sorted = times.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
