package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.api.config.SchedulerPolicy;
import io.trtllm.model.builtin.BuiltinModels;
import io.trtllm.model.CacheDirectory;
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
import io.trtllm.runtime.MaskedPass;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.PendingPass;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.sampling.Bitmask;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.SamplingConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * Whether the host's guide work still sits between two passes, without a GPU: the executor drives a simulated device
 * (a worker thread that "computes" each pass by waiting {@code deviceMicros}, then chooses for each row a random token
 * its mask allows) under the three ways a CUDA runner can run: plain (launch and wait), overlapped with guided passes
 * falling back to launch and wait (main before i16-cudaguided), and overlapped with masks given after the launch (the
 * device waits for the masks only after the forward half). Rounds of {@code rows} requests × {@code tokens} tokens,
 * free (temperature 0.8) and guided ({@code [a-z ]{2048}} on stories15M's vocabulary) in turn; the median
 * guided / free ratio per mode. The model's compute is simulated, the executor's and the guides' host work is real.
 *
 * <pre>scripts/bench-guided.sh overlap [deviceMicros] [rounds] [rows] [tokens]</pre>
 */
public final class GuidedOverlapHostBench {
    public static void main(String[] args) throws Exception {
        int deviceMicros = args.length > 0 ? Integer.parseInt(args[0]) : 350;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 6;
        int rows = args.length > 2 ? Integer.parseInt(args[2]) : 32;
        int tokens = args.length > 3 ? Integer.parseInt(args[3]) : 200;
        Vocabularies.Real real = Vocabularies.stories15M();
        ModelConfig model = ModelConfig.load(BuiltinModels.resolve("stories15M", CacheDirectory.resolve(null)));
        CompiledGuide guide = GuidedDecoding.compile(GuidedDecodingParams.regex("[a-z ]{2048}"), real.vocabulary());
        SamplingConfig free = SamplingConfig.builder().temperature(0.8f).build();
        SamplingConfig guided = free.withGuide(guide);
        System.out.printf(Locale.ROOT, "simulated device: %d µs a pass; %d rows × %d tokens a round, %d timed rounds of "
                + "each kind after 3 warm-up rounds; %d CPUs%n", deviceMicros, rows, tokens, rounds,
                Runtime.getRuntime().availableProcessors());
        for (String mode : List.of("plain", "overlap, guided falls back", "overlap, masks late")) {
            var device = new SimulatedDevice(model, deviceMicros, !mode.equals("plain"), mode.endsWith("late"));
            try (device; var executor = new Executor(device, new Executor.Config(
                    new SchedulerConfig(SchedulerPolicy.GUARANTEED_NO_EVICT, 64, 8192, true), 600, 512, false))) {
                for (int w = 0; w < 3; w++) {
                    round(executor, free, rows, tokens);
                    round(executor, guided, rows, tokens);
                }
                double[] ratios = new double[rounds];
                double[] freeRates = new double[rounds];
                double[] guidedRates = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    boolean freeFirst = r % 2 == 0;
                    double a = round(executor, freeFirst ? free : guided, rows, tokens);
                    double b = round(executor, freeFirst ? guided : free, rows, tokens);
                    freeRates[r] = freeFirst ? a : b;
                    guidedRates[r] = freeFirst ? b : a;
                    ratios[r] = guidedRates[r] / freeRates[r];
                }
                Arrays.sort(ratios);
                Arrays.sort(freeRates);
                Arrays.sort(guidedRates);
                System.out.printf(Locale.ROOT, "%-27s free %7.0f tok/s, guided %7.0f tok/s (medians); guided / free %.1f %% "
                        + "(median; range %.1f–%.1f %%); device busy %.0f %% of the wall time%n", mode,
                        freeRates[rounds / 2], guidedRates[rounds / 2], 100 * median(ratios), 100 * ratios[0],
                        100 * ratios[rounds - 1], 100 * device.busyFraction());
            }
        }
    }

    private static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static int counter;

    /** One round: {@code rows} requests of {@code tokens} tokens submitted at once; output tokens per second. */
    private static double round(Executor executor, SamplingConfig sampling, int rows, int tokens) throws Exception {
        List<CompletableFuture<Integer>> done = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < rows; i++) {
            var finished = new CompletableFuture<Integer>();
            done.add(finished);
            executor.submit(new GenerationRequest("r" + counter++, new int[] {1, 9038, 2501, 263, 931 + i}, tokens, sampling),
                    new GenerationListener() {
                        int count;

                        @Override
                        public void onToken(SampledToken token, @Nullable FinishReason finish) {
                            count++;
                        }

                        @Override
                        public void onFinish(FinishReason reason, RequestStats stats) {
                            finished.complete(count);
                        }

                        @Override
                        public void onFailure(Throwable error) {
                            finished.completeExceptionally(error);
                        }
                    });
        }
        long generated = 0;
        for (var f : done) {
            generated += f.get(300, TimeUnit.SECONDS);
        }
        return generated / ((System.nanoTime() - start) / 1e9);
    }

    /**
     * A device that computes a pass by waiting, on a worker thread in launch order (as a stream), then picks each
     * chosen row's token at random among those its mask allows. With masks late, the wait (the forward half) comes
     * first and the choice waits for the masks.
     */
    static final class SimulatedDevice implements ModelRunner {
        private final ModelConfig config;
        private final long deviceNanos;
        private final boolean overlap;
        private final boolean late;
        private final ExecutorService worker = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().unstarted(r));
        private final SplittableRandom rnd = new SplittableRandom(3);
        private final long created = System.nanoTime();
        private volatile long busyNanos;

        SimulatedDevice(ModelConfig config, int deviceMicros, boolean overlap, boolean late) {
            this.config = config;
            this.deviceNanos = deviceMicros * 1000L;
            this.overlap = overlap;
            this.late = late;
        }

        double busyFraction() {
            return (double) busyNanos / (System.nanoTime() - created);
        }

        @Override
        public boolean overlaps() {
            return overlap;
        }

        @Override
        public boolean takesMasksLater() {
            return late;
        }

        @Override
        public ForwardResult forward(Batch batch) {
            return compute(batch, null, null);
        }

        @Override
        public PendingPass launch(Batch batch) {
            if (!overlap) {
                return ModelRunner.super.launch(batch);
            }
            Future<ForwardResult> f = worker.submit(() -> compute(batch, null, null));
            return () -> get(f);
        }

        @Override
        public MaskedPass launch(Batch batch, boolean[] masksLater) {
            var masks = new CompletableFuture<List<@Nullable Bitmask>>();
            Future<ForwardResult> f = worker.submit(() -> compute(batch, masksLater, masks));
            return new MaskedPass() {
                @Override
                public void masks(List<@Nullable Bitmask> given) {
                    masks.complete(given);
                }

                @Override
                public ForwardResult await() {
                    return get(f);
                }
            };
        }

        private static ForwardResult get(Future<ForwardResult> f) {
            try {
                return f.get();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }

        private ForwardResult compute(Batch batch, boolean @Nullable [] later,
                                      @Nullable CompletableFuture<List<@Nullable Bitmask>> masks) {
            long start = System.nanoTime();
            long until = start + deviceNanos;
            while (System.nanoTime() < until) {
                LockSupport.parkNanos(until - System.nanoTime());
            }
            busyNanos += System.nanoTime() - start;
            List<@Nullable Bitmask> given = null;
            if (masks != null) {
                try {
                    given = masks.get(60, TimeUnit.SECONDS); // the device idles until the masks come
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
            List<SequenceChunk> chunks = batch.chunks();
            int vocab = config.vocabSize();
            ForwardResult.Builder result = ForwardResult.builder(chunks.size());
            for (int i = 0; i < chunks.size(); i++) {
                SequenceChunk c = chunks.get(i);
                if (c.logits() != LogitsMode.ARGMAX && c.logits() != LogitsMode.SAMPLE) {
                    continue;
                }
                Bitmask mask = later != null && later[i] ? given.get(i) : c.mask();
                result.tokenId(i, pick(mask, vocab));
            }
            return result.build();
        }

        private int pick(@Nullable Bitmask mask, int vocab) {
            if (mask == null) {
                return 3 + rnd.nextInt(vocab - 3);
            }
            for (int tries = 0; tries < 4096; tries++) {
                int t = rnd.nextInt(vocab);
                if (mask.allows(t)) {
                    return t;
                }
            }
            for (int t = 0; t < vocab; t++) {
                if (mask.allows(t)) {
                    return t;
                }
            }
            return -1;
        }

        @Override
        public ModelConfig config() {
            return config;
        }

        @Override
        public KvCacheSpec kvCache() {
            return new KvCacheSpec(2048, 16);
        }

        @Override
        public String backend() {
            return "simulated";
        }

        @Override
        public void close() {
            worker.shutdownNow();
        }
    }
}
