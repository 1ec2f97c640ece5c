package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.assertj.core.api.Assertions.assertThat;
import static org.bytedeco.cuda.global.cudart.cudaDeviceSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;

import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.engine.EngineCache;
import io.trtllm.executor.Executor;
import io.trtllm.executor.FinishReason;
import io.trtllm.executor.GenerationListener;
import io.trtllm.executor.GenerationRequest;
import io.trtllm.executor.RequestStats;
import io.trtllm.executor.SchedulerConfig;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.SamplingConfig;
import io.trtllm.sampling.TokenSampler;
import io.trtllm.sampling.TokenSampling;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.Pointer;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Draws on the device ({@link LogitsMode#SAMPLE}, the kernel {@code sample_rows}):
 * <ul>
 *   <li>the kernel alone on rows of Llama-3's vocabulary (128,256), typical and pathological (ties
 *       everywhere, 10,000 tokens within 0.01 nats), draws the token the host's reference
 *       ({@link TokenSampler}) draws with the same key and step; and how long it takes;</li>
 *   <li>the runner on stories15M: top-k 1 equals the argmax; many draws of one row follow the filtered
 *       softmax of that row (a chi-square test) for plain temperature, top-k, top-p and min-p;</li>
 *   <li>the executor on the runner: a seeded request gives the same tokens alone and in a busy batch, and
 *       no logits row is copied to the host;</li>
 *   <li>LLM: output tokens/s of sampled requests at concurrency 64 with draws on the device and with
 *       rows copied to the host ({@code trtllm.cuda.deviceSampling=false}), recorded.</li>
 * </ul>
 * Model: the system property {@code trtllm.gpu.model} (a prebuilt engine directory; scripts/gpu-test.sh
 * ships the BF16 stories15M engine).
 */
@Tag("gpu")
class CudaSamplingGpuTests {
    private static final int LLAMA3_VOCAB = 128_256;
    private static final int SAMPLE_PARAMS_BYTES = 32;
    /** The kernel's grid: rows drawn per launch. */
    private static final int ROWS = 64;
    /** "Once upon a time" in stories15M's (Llama 2's) vocabulary, after BOS. */
    private static final int[] PROMPT = {1, 9038, 2501, 263, 931};
    /** z of a chi-square test at p ≈ 1e-6 (Wilson–Hilferty): a correct kernel fails it once in a million runs. */
    private static final double CHI_SQUARE_Z = 4.75;

    private static String model() {
        String model = System.getProperty("trtllm.gpu.model");
        Assumptions.assumeTrue(model != null, "trtllm.gpu.model is not set");
        return model;
    }

    // ---- the kernel alone ----

    @Test
    void theKernelDrawsWhatTheHostReferenceDrawsOnRowsOfLlama3sVocabulary() {
        check(cudaSetDevice(0), "cudaSetDevice");
        CudaDevice device = CudaDevice.query(0);
        int vocab = LLAMA3_VOCAB;
        var rnd = new SplittableRandom(7);
        List<float[]> rows = new ArrayList<>();
        List<String> names = new ArrayList<>();
        names.add("gaussian, sd 2.5");
        rows.add(gaussian(rnd, vocab, 2.5, 0));
        names.add("peaked (one token 12 nats up)");
        float[] peaked = gaussian(rnd, vocab, 1.0, 0);
        peaked[7] += 12;
        rows.add(peaked);
        names.add("logits in steps of 1/2 (ties)");
        rows.add(gaussian(rnd, vocab, 2.0, 0.5));
        names.add("all equal");
        rows.add(new float[vocab]);
        names.add("10,000 tokens within 0.01 nats of the top");
        float[] crowded = gaussian(rnd, vocab, 1.0, 0);
        for (int i = 0; i < vocab; i++) {
            crowded[i] -= 20;
        }
        for (int i = 0; i < 10_000; i++) {
            crowded[(i * 12_823) % vocab] = 5f + (float) (0.01 * rnd.nextDouble());
        }
        rows.add(crowded);
        float[][] configs = {{1, 0, 1, 0}, {0.7f, 50, 1, 0}, {1, 0, 0.9f, 0}, {1, 0, 1, 0.05f}, {0.8f, 40, 0.95f, 0.02f},
            {1.3f, 5000, 0.5f, 0}, {1, 1, 1, 0}};
        // The buffers first: their cudaMalloc makes the device's primary context current for the module.
        try (var buffers = new DeviceBuffers(ROWS, vocab);
             var kernels = new KernelModule(device.smArch(), List.of("DIM=64", "HEAD_DIM=16", "N_HEADS=4", "N_KV_HEADS=4",
                     "INTER=128", "EPS=1e-5f", "WINDOW=0", "HAS_QKV_BIAS=0", "HAS_QK_NORM=0", "KV_BF16=1"))) {
            CUfunc_st sample = kernels.function("sample_rows");
            var reference = new TokenSampler();
            int draws = 0;
            int mismatches = 0;
            for (int r = 0; r < rows.size(); r++) {
                buffers.uploadRow(rows.get(r));
                for (int c = 0; c < configs.length; c++) {
                    float[] cfg = configs[c];
                    int agree = 0;
                    int n = 0;
                    for (int launch = 0; launch < 2; launch++) {
                        TokenSampling[] params = new TokenSampling[ROWS];
                        for (int i = 0; i < ROWS; i++) {
                            params[i] = new TokenSampling(cfg[0], (int) cfg[1], cfg[2], cfg[3], 1000L * r + c, launch * ROWS + i);
                        }
                        int[] ids = buffers.draw(kernels, sample, params);
                        for (int i = 0; i < ROWS; i++) {
                            int expected = reference.sample(rows.get(r), 0, vocab, params[i]);
                            n++;
                            if (ids[i] == expected) {
                                agree++;
                            }
                        }
                    }
                    GpuResults.record("sample_rows vs TokenSampler, vocab %d, %s, temperature %s top_k %d top_p %s min_p %s: "
                            + "%d of %d draws equal", vocab, names.get(r), cfg[0], (int) cfg[1], cfg[2], cfg[3], agree, n);
                    assertThat(agree).as("%s, config %s", names.get(r), Arrays.toString(cfg)).isGreaterThanOrEqualTo(n * 99 / 100);
                    draws += n;
                    mismatches += n - agree;
                }
            }
            // Weights are expf (device) vs exp (host) rounded to float: a draw can differ only where u lands
            // within a few float ulps of a token's cumulative boundary.
            assertThat(mismatches).as("draws that differ from the host's, of %d", draws).isLessThanOrEqualTo(draws / 1000);

            // time: 64 rows of the gaussian row, two typical settings
            buffers.uploadRow(rows.getFirst());
            for (float[] cfg : new float[][] {{1, 0, 1, 0}, {0.8f, 40, 0.95f, 0.02f}}) {
                TokenSampling[] params = new TokenSampling[ROWS];
                for (int i = 0; i < ROWS; i++) {
                    params[i] = new TokenSampling(cfg[0], (int) cfg[1], cfg[2], cfg[3], 5L, i);
                }
                buffers.writeParams(params);
                for (int i = 0; i < 5; i++) {
                    buffers.launch(kernels, sample);
                }
                check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
                long start = System.nanoTime();
                int launches = 50;
                for (int i = 0; i < launches; i++) {
                    buffers.launch(kernels, sample);
                }
                check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
                GpuResults.record("sample_rows, %d rows of %d logits, temperature %s top_k %d top_p %s min_p %s: %.1f us per launch",
                        ROWS, vocab, cfg[0], (int) cfg[1], cfg[2], cfg[3], (System.nanoTime() - start) / 1e3 / launches);
            }
        }
    }

    /** ROWS copies of one logits row, their sampling parameters and the ids drawn, on the device. */
    private static final class DeviceBuffers implements AutoCloseable {
        private final int vocab;
        private final Arena arena = Arena.ofConfined();
        private final MemorySegment hostParams;
        private final MemorySegment hostIds;
        private final long logits;
        private final long params;
        private final long ids;
        private final CUstream_st defaultStream = new CUstream_st();

        DeviceBuffers(int rows, int vocab) {
            this.vocab = vocab;
            hostParams = arena.allocate((long) rows * SAMPLE_PARAMS_BYTES, 8);
            hostIds = arena.allocate((long) rows * Integer.BYTES, 8);
            logits = malloc((long) rows * vocab * Float.BYTES);
            params = malloc((long) rows * SAMPLE_PARAMS_BYTES);
            ids = malloc((long) rows * Integer.BYTES);
        }

        private static long malloc(long bytes) {
            Pointer p = new Pointer();
            check(cudaMalloc(p, bytes), "cudaMalloc");
            return p.address();
        }

        void uploadRow(float[] row) {
            MemorySegment host = arena.allocateFrom(ValueLayout.JAVA_FLOAT, row);
            for (int r = 0; r < ROWS; r++) {
                check(cudaMemcpy(at(logits + (long) r * vocab * Float.BYTES), at(host.address()), host.byteSize(),
                        cudaMemcpyHostToDevice), "cudaMemcpy");
            }
        }

        /** As SamplingBuffers.write lays out kernels.cu's SampleParams. */
        void writeParams(TokenSampling[] rows) {
            for (int r = 0; r < rows.length; r++) {
                long at = (long) r * SAMPLE_PARAMS_BYTES;
                TokenSampling s = rows[r];
                hostParams.set(ValueLayout.JAVA_FLOAT, at, s.temperature());
                hostParams.set(ValueLayout.JAVA_INT, at + 4, s.topK());
                hostParams.set(ValueLayout.JAVA_FLOAT, at + 8, s.topP());
                hostParams.set(ValueLayout.JAVA_INT, at + 12, s.step());
                hostParams.set(ValueLayout.JAVA_DOUBLE, at + 16, s.logMinP());
                hostParams.set(ValueLayout.JAVA_LONG, at + 24, s.key());
            }
            check(cudaMemcpy(at(params), at(hostParams.address()), (long) rows.length * SAMPLE_PARAMS_BYTES,
                    cudaMemcpyHostToDevice), "cudaMemcpy");
        }

        void launch(KernelModule kernels, CUfunc_st sample) {
            kernels.args().ptr(logits).i32(vocab).ptr(params).ptr(ids).launch(sample, "sample_rows", ROWS, 1, 1024,
                    defaultStream);
        }

        int[] draw(KernelModule kernels, CUfunc_st sample, TokenSampling[] rows) {
            writeParams(rows);
            launch(kernels, sample);
            check(cudaDeviceSynchronize(), "cudaDeviceSynchronize(sample_rows)");
            check(cudaMemcpy(at(hostIds.address()), at(ids), (long) rows.length * Integer.BYTES, cudaMemcpyDeviceToHost),
                    "cudaMemcpy");
            return hostIds.toArray(ValueLayout.JAVA_INT);
        }

        @Override
        public void close() {
            cudaFree(at(logits));
            cudaFree(at(params));
            cudaFree(at(ids));
            arena.close();
        }
    }

    // ---- the runner on stories15M ----

    @Test
    void theRunnersDrawsAreTheArgmaxAtTopK1AndFollowTheFilteredSoftmaxOfTheRow() {
        try (var lease = EngineCache.openPrebuilt(Path.of(model()))) {
            ModelConfig config = lease.config().modelConfig();
            int vocab = config.vocabSize();
            try (var runner = new CudaModelRunner(config, lease.weights(), (a, p) -> new KvCacheSpec(ROWS, 32), 0)) {
                // One sequence per block: ROWS copies of the prompt, prefilled together (an eager pass).
                List<SequenceChunk> prefill = new ArrayList<>();
                for (int s = 0; s < ROWS; s++) {
                    prefill.add(new SequenceChunk(PROMPT, 0, new int[] {s}, LogitsMode.ARGMAX));
                }
                ForwardResult greedy = runner.forward(new Batch(prefill));
                int next = greedy.tokenId(0);
                List<SequenceChunk> topK1 = new ArrayList<>();
                for (int s = 0; s < ROWS; s++) {
                    topK1.add(new SequenceChunk(PROMPT, 0, new int[] {s}, LogitsMode.SAMPLE,
                            new TokenSampling(s % 2 == 0 ? 1f : 0.5f, 1, 1f, 0f, s, 0)));
                }
                ForwardResult topK1Ids = runner.forward(new Batch(topK1));
                for (int s = 0; s < ROWS; s++) {
                    assertThat(topK1Ids.tokenId(s)).as("top-k 1 in a prefill pass (eager)").isEqualTo(next);
                }

                // Decode passes at position 5: row 0 returns its logits (the reference), rows 1.. draw.
                int position = PROMPT.length;
                float[][] configs = {{1, 0, 1, 0}, {0.7f, 20, 1, 0}, {1, 0, 0.8f, 0}, {1, 0, 1, 0.1f}, {0.9f, 50, 0.9f, 0.05f},
                    {1, 1, 1, 0}};
                int passes = 300;
                for (int c = 0; c < configs.length; c++) {
                    float[] cfg = configs[c];
                    float[] row = null;
                    int[] counts = new int[vocab];
                    int draws = 0;
                    int equalToReference = 0;
                    var reference = new TokenSampler();
                    for (int pass = 0; pass < passes; pass++) {
                        List<SequenceChunk> chunks = new ArrayList<>();
                        chunks.add(new SequenceChunk(new int[] {next}, position, new int[] {0}, LogitsMode.LAST));
                        List<TokenSampling> params = new ArrayList<>();
                        for (int s = 1; s < ROWS; s++) {
                            var p = new TokenSampling(cfg[0], (int) cfg[1], cfg[2], cfg[3], 77L * c + s, pass);
                            params.add(p);
                            chunks.add(new SequenceChunk(new int[] {next}, position, new int[] {s}, LogitsMode.SAMPLE, p));
                        }
                        ForwardResult out = runner.forward(new Batch(chunks));
                        if (row == null) {
                            row = out.logits(0);
                        }
                        for (int s = 1; s < ROWS; s++) {
                            int id = out.tokenId(s);
                            counts[id]++;
                            draws++;
                            if (pass < 20 && id == reference.sample(row, 0, vocab, params.get(s - 1))) {
                                equalToReference++;
                            }
                        }
                    }
                    TokenSampling shape = new TokenSampling(cfg[0], (int) cfg[1], cfg[2], cfg[3], 0L, 0);
                    double[] expected = reference.probabilities(row, 0, vocab, shape);
                    ChiSquare chi = ChiSquare.of(counts, expected, draws);
                    GpuResults.record("runner draws, stories15M, temperature %s top_k %d top_p %s min_p %s: %d draws, "
                                    + "%d outside the kept set, chi-square %.1f for %d degrees of freedom (limit %.1f); first %d draws "
                                    + "equal to the host's reference: %d", cfg[0], (int) cfg[1], cfg[2], cfg[3], draws, chi.outside(),
                            chi.statistic(), chi.degreesOfFreedom(), chi.limit(), 20 * (ROWS - 1), equalToReference);
                    assertThat(chi.outside()).as("draws of tokens the filters exclude").isLessThanOrEqualTo(draws / 1000);
                    assertThat(chi.statistic()).as("chi-square, %d degrees of freedom", chi.degreesOfFreedom())
                            .isLessThanOrEqualTo(chi.limit());
                    assertThat(equalToReference).isGreaterThanOrEqualTo(20 * (ROWS - 1) * 98 / 100);
                    if (cfg[1] == 1) {
                        // The argmax of the decode row (the logits after the prompt and `next`), not `next`
                        // itself: `next` is the prompt's argmax, the token these passes feed in at `position`.
                        // Top-k keeps ties at the k-th value, so every token at the row's maximum is "the argmax".
                        float max = Float.NEGATIVE_INFINITY;
                        for (int i = 0; i < vocab; i++) {
                            max = Math.max(max, row[i]);
                        }
                        int atMax = 0;
                        int argmaxDraws = 0;
                        for (int i = 0; i < vocab; i++) {
                            if (row[i] == max) {
                                atMax++;
                                argmaxDraws += counts[i];
                            }
                        }
                        assertThat(atMax).as("tokens at the row's maximum").isBetween(1, 4);
                        assertThat(argmaxDraws).as("top-k 1: the argmax every time").isEqualTo(draws);
                    }
                }
                assertThat(runner.logitsRowsCopied()).as("only row 0 of each decode pass").isEqualTo((long) configs.length * passes);
            }
        }
    }

    /**
     * Pearson's chi-square of draw counts against probabilities: tokens expected at least 5 times are bins
     * of their own, the other kept tokens one bin; draws of tokens with probability 0 are counted apart.
     */
    record ChiSquare(double statistic, int degreesOfFreedom, double limit, int outside) {
        static ChiSquare of(int[] counts, double[] p, int draws) {
            double chi = 0;
            int bins = 0;
            double restExpected = 0;
            int restObserved = 0;
            int outside = 0;
            for (int i = 0; i < p.length; i++) {
                double e = p[i] * draws;
                if (p[i] == 0) {
                    outside += counts[i];
                } else if (e >= 5) {
                    chi += (counts[i] - e) * (counts[i] - e) / e;
                    bins++;
                } else {
                    restExpected += e;
                    restObserved += counts[i];
                }
            }
            if (restExpected >= 5) {
                chi += (restObserved - restExpected) * (restObserved - restExpected) / restExpected;
                bins++;
            }
            int df = Math.max(1, bins - 1);
            double a = 2.0 / (9 * df);
            double limit = df * Math.pow(1 - a + CHI_SQUARE_Z * Math.sqrt(a), 3);
            return new ChiSquare(chi, df, limit, outside);
        }
    }

    // ---- the executor on the runner ----

    /**
     * Within the GEMV's range ({@link Gemv#MAX_ROWS} decode sequences, every row computed the same at any
     * row count): beyond it the decode projections go to cuBLAS, whose last bits differ from the GEMV's,
     * so a draw near a CDF boundary may differ (README, CUDA backend).
     */
    @Test
    void aSeededRequestGivesTheSameTokensAloneAndInABusyBatchWithNoRowCopiedToTheHost() throws Exception {
        try (var lease = EngineCache.openPrebuilt(Path.of(model()))) {
            ModelConfig config = lease.config().modelConfig();
            int maxSeqLen = 192;
            try (var runner = new CudaModelRunner(config, lease.weights(), (a, p) -> new KvCacheSpec(64 * 6 + 16, 32), 0);
                 var executor = new Executor(runner, new Executor.Config(SchedulerConfig.defaults(), 256, maxSeqLen, false))) {
                var seeded = SamplingConfig.builder().temperature(0.9f).topK(40).topP(0.95f).minP(0.02f).seed(1234L).build();
                int[] prompt = {1, 9038, 2501, 263, 931, 727, 471, 263};
                List<Integer> alone = Collector.run(executor, "alone", prompt, 120, seeded);

                var rnd = new SplittableRandom(99);
                List<CompletableFuture<List<Integer>>> others = new ArrayList<>();
                CompletableFuture<List<Integer>> again = null;
                int othersCount = Gemv.MAX_ROWS - 1;
                for (int i = 0; i < othersCount; i++) {
                    int[] p = new int[1 + rnd.nextInt(40)];
                    p[0] = 1;
                    for (int j = 1; j < p.length; j++) {
                        p[j] = 3 + rnd.nextInt(config.vocabSize() - 3);
                    }
                    var sampling = i % 4 == 0 ? SamplingConfig.builder().temperature(0).build()
                            : SamplingConfig.builder().temperature(0.5f + rnd.nextInt(10) / 10f).topK(rnd.nextInt(3) * 30)
                                    .topP(rnd.nextBoolean() ? 1f : 0.9f).seed((long) i).build();
                    others.add(Collector.start(executor, "other-" + i, p, 20 + rnd.nextInt(maxSeqLen - p.length - 20), sampling));
                    if (i == othersCount / 2) {
                        again = Collector.start(executor, "again", prompt, 120, seeded);
                    }
                }
                List<Integer> busy = again.get(120, TimeUnit.SECONDS);
                for (var f : others) {
                    f.get(120, TimeUnit.SECONDS);
                }
                GpuResults.record("seeded request (temperature 0.9, top-k 40, top-p 0.95, min-p 0.02), 120 tokens: alone vs among "
                        + "%d others, %d of 120 equal; logits rows copied to the host: %d", othersCount, GpuResults.agreement(
                        alone.stream().mapToInt(Integer::intValue).toArray(), busy.stream().mapToInt(Integer::intValue).toArray()),
                        runner.logitsRowsCopied());
                assertThat(busy).isEqualTo(alone);
                assertThat(runner.logitsRowsCopied()).as("every row an argmax or a device draw").isZero();
            }
        }
    }

    /** Collects one request's tokens. */
    private static final class Collector implements GenerationListener {
        private final List<Integer> tokens = new ArrayList<>();
        private final CompletableFuture<List<Integer>> done = new CompletableFuture<>();

        static CompletableFuture<List<Integer>> start(Executor executor, String id, int[] prompt, int maxTokens,
                                                      SamplingConfig sampling) {
            var c = new Collector();
            executor.submit(new GenerationRequest(id, prompt, maxTokens, sampling), c);
            return c.done;
        }

        static List<Integer> run(Executor executor, String id, int[] prompt, int maxTokens, SamplingConfig sampling)
                throws Exception {
            return start(executor, id, prompt, maxTokens, sampling).get(120, TimeUnit.SECONDS);
        }

        @Override
        public void onToken(SampledToken token, @Nullable FinishReason finish) {
            tokens.add(token.tokenId());
        }

        @Override
        public void onFinish(FinishReason reason, RequestStats stats) {
            done.complete(List.copyOf(tokens));
        }

        @Override
        public void onFailure(Throwable error) {
            done.completeExceptionally(error);
        }
    }

    // ---- LLM: throughput with and without the device path ----

    @Test
    void sampledRequestsAtConcurrency64WithDrawsOnTheDeviceAndOnTheHost() throws Exception {
        String model = model();
        int requests = 128;
        int outputTokens = 128;
        double[] tokensPerSecond = new double[2];
        List<List<int[]>> outputs = new ArrayList<>();
        for (int mode = 0; mode < 2; mode++) {
            boolean device = mode == 0;
            System.setProperty("trtllm.cuda.deviceSampling", Boolean.toString(device));
            LLM llm;
            try {
                llm = new LLM(LlmArgs.builder(model).backend("cuda").maxBatchSize(64).build());
            } finally {
                System.clearProperty("trtllm.cuda.deviceSampling");
            }
            try (llm) {
                if (device) {
                    // top_k = 1 is greedy (TensorRT-LLM): the argmax, whatever the temperature
                    var greedy = llm.generate("Once upon a time", SamplingParams.builder().maxTokens(48).temperature(0).build());
                    var topK1 = llm.generate("Once upon a time", SamplingParams.builder().maxTokens(48).temperature(0.8f).topK(1).build());
                    assertThat(topK1.output().tokenIds()).containsExactly(greedy.output().tokenIds());
                }
                run(llm, 64, 16); // warm-up: graphs of every batch size, the JIT
                long start = System.nanoTime();
                List<int[]> out = run(llm, requests, outputTokens);
                double seconds = (System.nanoTime() - start) / 1e9;
                tokensPerSecond[mode] = requests * outputTokens / seconds;
                outputs.add(out);
            }
        }
        int same = 0;
        for (int i = 0; i < requests; i++) {
            same += Arrays.equals(outputs.get(0).get(i), outputs.get(1).get(i)) ? 1 : 0;
        }
        GpuResults.record("%d sampled requests (temperature 0.8, top-k 50, top-p 0.95, seeded) of %d tokens at concurrency 64: "
                        + "%.0f output tok/s with draws on the device, %.0f with logits rows copied to the host and drawn there (%.2fx); "
                        + "%d of %d outputs identical between the two", requests, outputTokens, tokensPerSecond[0], tokensPerSecond[1],
                tokensPerSecond[0] / tokensPerSecond[1], same, requests);
        assertThat(tokensPerSecond[0]).isPositive();
    }

    private static List<int[]> run(LLM llm, int requests, int outputTokens) throws Exception {
        List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            var params = SamplingParams.builder().maxTokens(outputTokens).temperature(0.8f).topK(50).topP(0.95f)
                    .seed((long) i).ignoreEos(true).build();
            futures.add(llm.generateAsync("Once upon a time, in a land " + "far ".repeat(i % 7) + "away,", params));
        }
        List<int[]> out = new ArrayList<>();
        for (var f : futures) {
            int[] ids = f.get(300, TimeUnit.SECONDS).output().tokenIds();
            assertThat(ids).hasSize(outputTokens);
            out.add(ids);
        }
        return out;
    }

    private static float[] gaussian(SplittableRandom rnd, int n, double sd, double step) {
        float[] row = new float[n];
        for (int i = 0; i < n; i++) {
            double g = sd * Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())) * Math.cos(2 * Math.PI * rnd.nextDouble());
            row[i] = step > 0 ? (float) (Math.round(g / step) * step) : (float) g;
        }
        return row;
    }
}
