package io.trtllm.executor;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.SamplingConfig;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/**
 * {@link Executor#onFailure}: what health reporting (Spring's liveness state) is driven by. Told once
 * when a broken runner stops the loop, at once when registered after that, never on a normal close.
 */
class ExecutorFailureListenerTests {
    private static final IllegalStateException DEVICE_ERROR = new IllegalStateException(
            "CUDA error in cudaStreamSynchronize: an illegal memory access was encountered (700)");

    /** Like the CUDA runner after an illegal address: the pass fails and the runner reports itself unusable. */
    private static final class BrokenRunner implements ModelRunner {
        private final ModelConfig config;
        private volatile @Nullable Throwable failure;

        BrokenRunner(ModelConfig config) {
            this.config = config;
        }

        @Override
        public ModelConfig config() {
            return config;
        }

        @Override
        public KvCacheSpec kvCache() {
            return new KvCacheSpec(8, 16);
        }

        @Override
        public String backend() {
            return "broken";
        }

        @Override
        public ForwardResult forward(Batch batch) {
            failure = DEVICE_ERROR;
            throw DEVICE_ERROR;
        }

        @Override
        public @Nullable Throwable failure() {
            return failure;
        }

        @Override
        public void close() {
        }
    }

    private static ModelConfig config() throws URISyntaxException {
        return ModelConfig.load(Path.of(ExecutorFailureListenerTests.class.getResource("/parity/llama3/config.json")
                .toURI()).getParent());
    }

    private static Executor executor(ModelRunner runner) {
        return new Executor(runner, new Executor.Config(SchedulerConfig.defaults(), 8, 64, false));
    }

    private static GenerationRequest request(String id) {
        return new GenerationRequest(id, new int[] {1, 2, 3}, 4, SamplingConfig.builder().build());
    }

    @Test
    void aBrokenRunnerTellsEachListenerOnceWithItsErrorAfterTheLoopStopped() throws Exception {
        try (var executor = executor(new BrokenRunner(config()))) {
            var told = new CopyOnWriteArrayList<Throwable>();
            var aliveWhenTold = new CompletableFuture<Boolean>();
            executor.onFailure(told::add);
            executor.onFailure(e -> aliveWhenTold.complete(executor.stats().alive()));
            executor.onFailure(e -> {
                throw new IllegalStateException("a listener that throws does not stop the others");
            });
            var last = new CompletableFuture<Throwable>();
            executor.onFailure(last::complete);
            var failed = new CompletableFuture<Throwable>();

            executor.submit(request("r"), new GenerationListener() {
                @Override
                public void onToken(SampledToken token, @Nullable FinishReason finish) {
                }

                @Override
                public void onFinish(FinishReason reason, RequestStats stats) {
                    failed.complete(null);
                }

                @Override
                public void onFailure(Throwable error) {
                    failed.complete(error);
                }
            });

            assertThat(failed.get(10, TimeUnit.SECONDS)).isSameAs(DEVICE_ERROR);
            assertThat(last.get(10, TimeUnit.SECONDS)).isSameAs(DEVICE_ERROR);
            assertThat(aliveWhenTold.get(10, TimeUnit.SECONDS)).as("stats report the loop stopped").isFalse();
            // The listeners run one after another on the loop's thread, in no promised order: wait for this one.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (told.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertThat(told).containsExactly(DEVICE_ERROR);
            assertThat(executor.failure()).isSameAs(DEVICE_ERROR);

            // Registered after the failure: told at once, on the caller's thread.
            List<Throwable> late = new CopyOnWriteArrayList<>();
            executor.onFailure(late::add);
            assertThat(late).containsExactly(DEVICE_ERROR);
        }
    }

    @Test
    void aNormalCloseTellsNoListener() throws Exception {
        var runner = new BrokenRunner(config());
        var told = new CopyOnWriteArrayList<Throwable>();
        var executor = executor(runner);
        executor.onFailure(told::add);

        executor.close();

        assertThat(executor.stats().alive()).isFalse();
        assertThat(executor.failure()).isNull();
        executor.onFailure(told::add);
        assertThat(told).isEmpty();
    }
}
