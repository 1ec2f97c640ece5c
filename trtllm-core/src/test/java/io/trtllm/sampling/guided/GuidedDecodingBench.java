package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.sampling.TokenBitmask;
import io.trtllm.sampling.guided.ConfigSpace.Config;
import io.trtllm.testing.Gen;
import io.trtllm.testing.TestFixtures;
import io.trtllm.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Timings of guided decoding on the Llama 3 vocabulary (128,256 tokens), without a model:
 *
 * <ol>
 *   <li>the guide vocabulary: token bytes and the token trie (once per tokenizer);</li>
 *   <li>compiling the 20-property schema of {@link TestSchemas#twentyProperties()}: the first compile
 *       in the JVM, then the median of fresh compiles (no cache), then a cached compile;</li>
 *   <li>first-pass masks: what sequences pay the first time they reach a configuration;</li>
 *   <li>the steady state: 32 matchers generating side by side (random allowed tokens, a new output
 *       when one ends), timing only {@code fillNextTokenMask} + {@code accept} per token.</li>
 * </ol>
 *
 * Run with {@code scripts/bench-guided.sh} (docs/PERFORMANCE.md, "Guided decoding").
 */
public final class GuidedDecodingBench {
    public static void main(String[] args) {
        int tokens = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
        Tokenizer tokenizer = Tokenizer.load(TestFixtures.llama3Tokenizer());
        long t0 = System.nanoTime();
        GuideVocabulary vocab = GuideVocabulary.of(tokenizer.vocabSize(), tokenizer::tokenBytes, tokenizer.eosTokenIds(),
                tokenizer.decodeStripsLeadingSpace());
        long t1 = System.nanoTime();
        vocab.trie(false);
        long t2 = System.nanoTime();
        System.out.printf(Locale.ROOT, "vocabulary: %d tokens; token bytes + fingerprint %.0f ms, token trie %.0f ms (%d nodes)%n",
                vocab.size(), ms(t1 - t0), ms(t2 - t1), vocab.trie(false).nodes());

        GuidedDecodingParams params = GuidedDecodingParams.json(TestSchemas.twentyProperties());
        // Wall and CPU time: on a shared machine the thread's CPU time is the steadier of the two.
        long first = System.nanoTime();
        long firstCpu = CPU.getCurrentThreadCpuTime();
        CompiledGuide guide = GuidedDecoding.compileUncached(params, vocab, GuideOptions.DEFAULT);
        first = System.nanoTime() - first;
        firstCpu = CPU.getCurrentThreadCpuTime() - firstCpu;
        double[] fresh = new double[30];
        double[] freshCpu = new double[fresh.length];
        for (int i = 0; i < fresh.length; i++) {
            long s = System.nanoTime();
            long c = CPU.getCurrentThreadCpuTime();
            GuidedDecoding.compileUncached(params, vocab, GuideOptions.DEFAULT);
            fresh[i] = ms(System.nanoTime() - s);
            freshCpu[i] = ms(CPU.getCurrentThreadCpuTime() - c);
        }
        Arrays.sort(fresh);
        Arrays.sort(freshCpu);
        GuidedDecoding.compile(params, vocab);
        long cachedStart = System.nanoTime();
        int rounds = 100_000;
        for (int i = 0; i < rounds; i++) {
            GuidedDecoding.compile(params, vocab);
        }
        double cachedNs = (System.nanoTime() - cachedStart) / (double) rounds;
        System.out.printf(Locale.ROOT, "compile 20-property schema: first in JVM %.0f ms (CPU %.0f ms); fresh (no cache, %d runs) "
                        + "median %.1f ms (min %.1f, max %.1f; CPU median %.1f, min %.1f); cached %.2f µs; %d automaton states%n",
                ms(first), ms(firstCpu), fresh.length, fresh[fresh.length / 2], fresh[0], fresh[fresh.length - 1],
                freshCpu[fresh.length / 2], freshCpu[0], cachedNs / 1000, guide.automatonStates());

        // First-pass masks: one generation on a fresh guide, each new configuration's mask computed once.
        CompiledGuide cold = GuidedDecoding.compileUncached(params, vocab, GuideOptions.DEFAULT);
        Gen gen = new Gen(7);
        long[] mask = new long[TokenBitmask.words(vocab.size())];
        GuideMatcher m = cold.newMatcher();
        long maskNanos = 0;
        long maskCpu = CPU.getCurrentThreadCpuTime();
        int steps = 0;
        while (!m.isComplete() && steps < 2000) {
            long s = System.nanoTime();
            int allowed = m.fillNextTokenMask(mask);
            maskNanos += System.nanoTime() - s;
            if (m.canTerminate()) {
                break;
            }
            int token = pick(mask, allowed, gen, vocab, m, steps > 40);
            m.accept(token);
            steps++;
        }
        maskCpu = CPU.getCurrentThreadCpuTime() - maskCpu;
        System.out.printf(Locale.ROOT, "first pass: %d tokens, %d configurations, masks %.0f ms in all (%.2f ms per token; "
                + "the whole pass took %.0f ms of CPU)%n", steps, cold.configurations(), ms(maskNanos),
                ms(maskNanos) / Math.max(1, steps), ms(maskCpu));

        // Steady state: 32 matchers, masks cached after a warm-up.
        for (int pass = 0; pass < 2; pass++) {
            int n = pass == 0 ? tokens / 4 : tokens;
            GuideMatcher[] ms = new GuideMatcher[32];
            long[][] masks = new long[32][TokenBitmask.words(vocab.size())];
            int[] lengths = new int[32];
            for (int i = 0; i < ms.length; i++) {
                ms[i] = guide.newMatcher();
            }
            long timed = 0;
            long passCpu = CPU.getCurrentThreadCpuTime();
            long passWall = System.nanoTime();
            int done = 0;
            int outputs = 0;
            while (done < n) {
                for (int i = 0; i < ms.length; i++) {
                    GuideMatcher x = ms[i];
                    long s = System.nanoTime();
                    int allowed = x.fillNextTokenMask(masks[i]);
                    timed += System.nanoTime() - s;
                    int token;
                    if (x.canTerminate()) {
                        token = vocab.ends()[0];
                    } else {
                        token = pick(masks[i], allowed, gen, vocab, x, lengths[i] > 40);
                    }
                    s = System.nanoTime();
                    boolean ok = x.accept(token);
                    timed += System.nanoTime() - s;
                    if (!ok) {
                        throw new AssertionError("allowed token refused");
                    }
                    lengths[i]++;
                    done++;
                    if (x.isTerminated()) {
                        x.reset();
                        lengths[i] = 0;
                        outputs++;
                    }
                }
            }
            if (pass == 1) {
                double cpuShare = (CPU.getCurrentThreadCpuTime() - passCpu) / (double) (System.nanoTime() - passWall);
                System.out.printf(Locale.ROOT, "steady state, 32 matchers: %d tokens (%d outputs), fill + accept %.2f µs per token "
                                + "(%d configurations cached; the thread had the CPU %.0f%% of the pass)%n", done, outputs,
                        timed / 1000.0 / done, guide.configurations(), 100 * cpuShare);
            }
        }

        // Applying a mask to a row of logits, as a host sampler does before its draw.
        float[] logits = new float[vocab.size()];
        long[] rowMask = new long[TokenBitmask.words(vocab.size())];
        GuideMatcher inString = guide.newMatcher();
        for (byte b : "{\"field_0\": \"".getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
            inString.accept(byteTokens(vocab)[b & 0xFF]);
        }
        double[] applyUs = new double[2];
        GuideMatcher[] rows = {guide.newMatcher(), inString};
        for (int r = 0; r < rows.length; r++) {
            rows[r].fillNextTokenMask(rowMask);
            int reps = 2000;
            for (int warm = 0; warm < 2; warm++) {
                long s = System.nanoTime();
                for (int i = 0; i < reps; i++) {
                    java.util.Arrays.fill(logits, 1f);
                    TokenBitmask.apply(rowMask, logits, 0, logits.length);
                }
                applyUs[r] = (System.nanoTime() - s) / 1000.0 / reps;
            }
        }
        long fillOnly = System.nanoTime();
        for (int i = 0; i < 2000; i++) {
            java.util.Arrays.fill(logits, 1f);
        }
        double fillUs = (System.nanoTime() - fillOnly) / 1000.0 / 2000;
        System.out.printf(Locale.ROOT, "mask applied to a %d-logit row: %.1f µs at the start (few tokens allowed), %.1f µs inside a "
                + "string (most allowed); refilling the row alone %.1f µs%n", vocab.size(), applyUs[0] - fillUs,
                applyUs[1] - fillUs, fillUs);
    }

    /** A random allowed token; past {@code finishing}, preferring the structural single-byte ones so outputs end. */
    private static int pick(long[] mask, int allowed, Gen gen, GuideVocabulary vocab, GuideMatcher m, boolean finishing) {
        if (finishing) {
            Config c = m.config();
            int best = -1;
            int bestDistance = Integer.MAX_VALUE;
            if (byteTokens == null) {
                byteTokens = byteTokens(vocab);
            }
            for (int b = 0; b < 256; b++) {
                int id = byteTokens[b];
                if (id >= 0 && TokenBitmask.isSet(mask, id)) {
                    int d = Walks.distance(m.guide().space(), m.guide().space().step(c, (byte) b));
                    if (d < bestDistance) {
                        best = id;
                        bestDistance = d;
                    }
                }
            }
            if (best >= 0) {
                return best;
            }
        }
        return Walks.draw(mask, allowed, gen, false, 0, vocab);
    }

    private static int[] byteTokens;

    private static int[] byteTokens(GuideVocabulary vocab) {
        int[] ids = new int[256];
        Arrays.fill(ids, -1);
        for (int id = 0; id < vocab.size(); id++) {
            byte[] b = vocab.tokenBytes(id);
            if (b != null && b.length == 1 && ids[b[0] & 0xFF] < 0) {
                ids[b[0] & 0xFF] = id;
            }
        }
        return ids;
    }

    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

}
