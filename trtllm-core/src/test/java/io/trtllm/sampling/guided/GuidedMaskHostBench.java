package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.runtime.MaskSlots;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.sampling.RowNeed;
import io.trtllm.sampling.Sampler;
import io.trtllm.sampling.SamplingConfig;
import io.trtllm.sampling.SamplingState;
import io.trtllm.testing.Gen;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The host's share of a guided decode step on a device backend, without a model or a GPU: for {@code rows}
 * sequences at once, what the executor and the CUDA runner do on the host per step besides the forward pass —
 * per row {@link Sampler#need}, the draw's parameters, {@link Sampler#bitmask} (the matcher catching up with the
 * token drawn last, the mask of its configuration), the {@link SequenceChunk}; then the masks staged as
 * {@code MaskBuffers.write} stages them ({@link MaskSlots}, into native memory standing in for the pinned buffers)
 * and the bytes its uploads would copy; then the runner's tokens recorded ({@link Sampler#chosen}). The tokens are drawn beforehand
 * (random allowed tokens, {@link Walks#walk}), so only the host path is timed. The same step without guides is
 * timed alongside: the difference is what guided decoding adds to each step.
 *
 * <pre>scripts/bench-guided.sh host [regex|json|all] [steps] [rows]</pre>
 * (docs/PERFORMANCE.md, "Guided decoding on CUDA: the host's share of a step"). Guides as in
 * {@link GuidedSampledDecodeBench}: {@code regex} is {@code [a-z ]{2048}}, {@code json} the compact 20-property
 * schema; vocabularies stories15M (32,000 tokens) and Llama 3 (128,256).
 */
public final class GuidedMaskHostBench {
    public static void main(String[] args) {
        String which = args.length > 0 ? args[0] : "all";
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 3000;
        int rows = args.length > 2 ? Integer.parseInt(args[2]) : 32;
        List<Vocabularies.Real> vocabs = List.of(Vocabularies.stories15M(), Vocabularies.llama3());
        System.out.printf(Locale.ROOT, "%d rows per step, %d timed steps after %d warm-up steps, %d CPUs%n", rows, steps,
                steps / 2, Runtime.getRuntime().availableProcessors());
        for (Vocabularies.Real real : vocabs) {
            for (String kind : which.equals("all") ? List.of("regex", "json") : List.of(which)) {
                GuidedDecodingParams params = kind.equals("regex") ? GuidedDecodingParams.regex("[a-z ]{2048}")
                        : GuidedDecodingParams.json(TestSchemas.twentyProperties()).withCompactWhitespace(true);
                run(real, kind, GuidedDecoding.compile(params, real.vocabulary()), rows, steps);
            }
        }
    }

    private static void run(Vocabularies.Real real, String kind, CompiledGuide guide, int rows, int steps) {
        int vocab = real.vocabulary().size();
        // Outputs of up to 128 tokens per row, drawn once; a row whose output is done starts the next one.
        Gen gen = new Gen(16);
        int[][][] outputs = new int[rows][][];
        for (int r = 0; r < rows; r++) {
            outputs[r] = new int[6][];
            for (int o = 0; o < outputs[r].length; o++) {
                int[] tokens = Walks.walk(guide, gen, 100, 128).tokens();
                // An end token is chosen by the runner but ends the sequence before another step: drop it.
                if (tokens.length > 0 && guide.vocabulary().isEnd(tokens[tokens.length - 1])) {
                    tokens = Arrays.copyOf(tokens, tokens.length - 1);
                }
                outputs[r][o] = tokens;
            }
        }
        double[] free = time(real, null, outputs, rows, steps, vocab);
        double[] guided = time(real, guide, outputs, rows, steps, vocab);
        System.out.printf(Locale.ROOT, "%-10s %-5s free %6.1f µs/step (median; mean %.1f) | guided %6.1f µs/step (median; "
                        + "mean %.1f, p90 %.1f) | guided adds %6.1f µs/step; staged %.1f KiB/step, upload %.1f KiB/step in %.2f copies%n",
                real.name(), kind, free[0], free[1], guided[0], guided[1], guided[2], guided[0] - free[0], guided[3] / 1024,
                guided[4] / 1024, guided[5]);
    }

    /** Median, mean and p90 µs per step; mean bytes staged and uploaded, and host-to-device copies, per step. */
    private static double[] time(Vocabularies.Real real, CompiledGuide guide, int[][][] outputs, int rows, int steps,
                                 int vocab) {
        SamplingConfig config = SamplingConfig.builder().temperature(0.8f).build().withGuide(guide);
        int[] prompt = {1, 9038, 2501, 263, 931};
        SamplingState[] states = new SamplingState[rows];
        int[] output = new int[rows];
        int[] at = new int[rows];
        for (int r = 0; r < rows; r++) {
            states[r] = new SamplingState(config, prompt, r);
        }
        Sampler sampler = new Sampler();
        Staging staging = new Staging(vocab, rows);
        int[] blockTable = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        int warm = steps / 2;
        double[] micros = new double[steps];
        double staged = 0;
        double uploaded = 0;
        double copies = 0;
        List<SequenceChunk> chunks = new ArrayList<>(rows);
        for (int step = -warm; step < steps; step++) {
            for (int r = 0; r < rows; r++) {
                if (at[r] == outputs[r][output[r]].length) {
                    output[r] = (output[r] + 1) % outputs[r].length;
                    at[r] = 0;
                    states[r] = new SamplingState(config, prompt, r);
                }
            }
            chunks.clear();
            long start = System.nanoTime();
            // The executor's pass (Pass.add): the mode, the draw's parameters, the mask, the chunk.
            for (int r = 0; r < rows; r++) {
                SamplingState s = states[r];
                RowNeed need = Sampler.need(s);
                if (need != RowNeed.DRAW) {
                    throw new IllegalStateException("a guided row should be drawn on the device, not " + need);
                }
                chunks.add(new SequenceChunk(new int[] {s.token(s.length() - 1)}, s.length() - 1, blockTable, LogitsMode.SAMPLE,
                        Sampler.tokenSampling(s), Sampler.bitmask(s, vocab)));
            }
            // The runner's staging of the masks for upload.
            staging.write(chunks, rows);
            // The runner's tokens back to the executor (Pass.nextToken).
            for (int r = 0; r < rows; r++) {
                int token = outputs[r][output[r]][at[r]++];
                if (!chunks.get(r).allows(token)) {
                    throw new IllegalStateException("token " + token + " is not allowed");
                }
                sampler.chosen(token, states[r]);
            }
            long nanos = System.nanoTime() - start;
            if (step >= 0) {
                micros[step] = nanos / 1000.0;
                staged += staging.stagedBytes;
                uploaded += staging.uploadBytes;
                copies += staging.copies;
            }
        }
        double mean = Arrays.stream(micros).average().orElse(0);
        Arrays.sort(micros);
        return new double[] {micros[steps / 2], mean, micros[steps * 9 / 10], staged / steps, uploaded / steps,
                copies / steps};
    }

    /**
     * {@code MaskBuffers.write} without the device: {@link MaskSlots} over native memory standing in for the
     * runner's pinned buffers, and the bytes its copies would upload.
     */
    private static final class Staging {
        private final int wordsPerRow;
        private final MaskSlots slots;
        long stagedBytes;
        long uploadBytes;
        int copies;

        Staging(int vocab, int rows) {
            wordsPerRow = (vocab + 63) >>> 6;
            Arena arena = Arena.ofAuto();
            slots = new MaskSlots(wordsPerRow, arena.allocate((long) rows * Integer.BYTES, 64),
                    arena.allocate((long) Math.max(256, 2 * rows) * wordsPerRow * Long.BYTES, 64));
        }

        void write(List<SequenceChunk> chunks, int rows) {
            long before = slots.stagedMasks();
            slots.stage(chunks, rows);
            stagedBytes = (slots.stagedMasks() - before) * wordsPerRow * Long.BYTES;
            uploadBytes = slots.rowsChanged() ? (long) rows * Integer.BYTES : 0;
            copies = (slots.rowsChanged() ? 1 : 0) + slots.runs();
            for (int i = 0; i < slots.runs(); i++) {
                uploadBytes += (long) (slots.runTo(i) - slots.runFrom(i)) * wordsPerRow * Long.BYTES;
            }
        }
    }
}
