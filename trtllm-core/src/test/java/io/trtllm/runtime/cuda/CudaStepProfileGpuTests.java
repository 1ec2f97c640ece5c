package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.engine.EngineCache;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The GPU time of each step of one prefill pass (128-token prompts) and one decode pass (at position
 * 160) at batch 1, 64 and 256, with the row attention kernel ({@code trtllm.cuda.attention=rows}), with the
 * tensor-core / split kernels (the default, "tiles") and with the GQA decode kernel ({@code gqa}), measured by {@link StepProfile} ({@code trtllm.cuda.profile=true}),
 * recorded as lines of gpu-results.txt. Models: the system property {@code trtllm.gpu.profileModel} (a
 * checkpoint directory, e.g. a few layers of the Llama-3.1-8B shape made by
 * scripts/reference/make_llama8b_shape.py --layers 4, see scripts/gpu-profile.sh) and
 * {@code trtllm.gpu.model} (the bundle's stories15M engine). Asserts only that every pass was measured
 * and that the attention step got its time; the figures are for docs/PERFORMANCE.md.
 */
@Tag("gpu")
class CudaStepProfileGpuTests {
    static final int PROMPT = 128;
    static final int BLOCK = 32;

    @Test
    void stepTimesOfPrefillAndDecodeWithBothAttentionKernels() {
        String checkpoint = System.getProperty("trtllm.gpu.profileModel");
        String engine = System.getProperty("trtllm.gpu.model");
        Assumptions.assumeTrue(checkpoint != null || engine != null, "neither trtllm.gpu.profileModel nor trtllm.gpu.model is set");
        try {
            System.setProperty(StepProfile.PROPERTY, "true");
            if (engine != null) {
                try (var lease = EngineCache.openPrebuilt(Path.of(engine))) {
                    profile("stories15M", lease.config().modelConfig(), lease.weights());
                }
            }
            if (checkpoint != null) {
                Path dir = Path.of(checkpoint);
                try (Checkpoint weights = Checkpoint.open(dir)) {
                    ModelConfig config = ModelConfig.load(dir);
                    profile("llama-3.1-8b shape, " + config.numLayers() + " layers", config, weights);
                }
            }
        } finally {
            System.clearProperty(StepProfile.PROPERTY);
            System.clearProperty(CudaModelRunner.ATTENTION_PROPERTY);
        }
    }

    private static void profile(String name, ModelConfig config, Checkpoint weights) {
        int blocksPerSeq = (PROMPT + 64 + BLOCK - 1) / BLOCK;
        for (String mode : List.of("rows", "heads", "gqa")) {
            System.setProperty(CudaModelRunner.ATTENTION_PROPERTY, mode);
            try (var runner = new CudaModelRunner(config, weights, (a, p) -> new KvCacheSpec(256 * blocksPerSeq, BLOCK), 0)) {
                StepProfile profile = runner.profile();
                assertThat(profile).isNotNull();
                for (int batch : new int[] {1, 64, 256}) {
                    List<int[]> tables = new ArrayList<>();
                    for (int s = 0; s < batch; s++) {
                        int[] t = new int[blocksPerSeq];
                        for (int b = 0; b < blocksPerSeq; b++) {
                            t[b] = s * blocksPerSeq + b;
                        }
                        tables.add(t);
                    }
                    List<SequenceChunk> prefill = new ArrayList<>();
                    List<SequenceChunk> decode = new ArrayList<>();
                    for (int s = 0; s < batch; s++) {
                        int[] prompt = new int[PROMPT];
                        for (int i = 0; i < PROMPT; i++) {
                            prompt[i] = (s * 31 + i * 7) % 1000 + 10;
                        }
                        prefill.add(new SequenceChunk(prompt, 0, tables.get(s), LogitsMode.ARGMAX));
                        decode.add(new SequenceChunk(new int[] {s % 1000 + 10}, PROMPT + 32, tables.get(s), LogitsMode.ARGMAX));
                    }
                    measure(runner, profile, Batch.of(prefill.toArray(SequenceChunk[]::new)), 3,
                            "%s, attention=%s, prefill %d x %d tokens", name, mode, batch, PROMPT);
                    measure(runner, profile, Batch.of(decode.toArray(SequenceChunk[]::new)), 5,
                            "%s, attention=%s, decode %d sequences at position %d", name, mode, batch, PROMPT + 32);
                }
            }
        }
    }

    private static void measure(CudaModelRunner runner, StepProfile profile, Batch batch, int passes, String format,
                                Object... args) {
        runner.forward(batch);  // warm-up: cuBLAS's first call of a shape loads its kernel
        profile.reset();
        for (int i = 0; i < passes; i++) {
            runner.forward(batch);
        }
        assertThat(profile.passes()).isEqualTo(passes);
        Map<String, Double> per = profile.perPass();
        assertThat(per).containsKey("attention");
        StringBuilder line = new StringBuilder();
        double total = 0;
        for (var e : per.entrySet()) {
            line.append(String.format(java.util.Locale.ROOT, "; %s %.3f", e.getKey(), e.getValue()));
            total += e.getValue();
        }
        GpuResults.record("step profile, " + format + ": total %.3f ms%s", concat(args, total, line.toString()));
    }

    private static Object[] concat(Object[] args, Object... more) {
        Object[] all = new Object[args.length + more.length];
        System.arraycopy(args, 0, all, 0, args.length);
        System.arraycopy(more, 0, all, args.length, more.length);
        return all;
    }
}
