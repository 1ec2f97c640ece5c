package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.sampling.TokenBitmask;
import io.trtllm.testing.Gen;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * A compiled guide is shared: matchers on several threads, filling its caches at the same time, get
 * the masks a guide used by one thread alone gives for the same tokens.
 */
class GuideConcurrencyTests {
    @Test
    void matchersOnManyThreadsSeeTheSameMasksAsOneThread() throws Exception {
        GuideVocabulary vocab = Vocabularies.qwen3().vocabulary();
        GuidedDecodingParams params = GuidedDecodingParams.json(TestSchemas.TEN.get("nested"));
        CompiledGuide shared = GuidedDecoding.compileUncached(params, vocab, GuideOptions.DEFAULT);
        CompiledGuide alone = GuidedDecoding.compileUncached(params, vocab, GuideOptions.DEFAULT);
        // The token sequences, drawn first on the guide used alone.
        List<int[]> walks = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            walks.add(Walks.walk(alone, new Gen(1000 + i), 30, 3000).tokens());
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Integer>> results = new ArrayList<>();
            for (int[] walk : walks) {
                results.add(pool.submit(() -> {
                    GuideMatcher m = shared.newMatcher();
                    GuideMatcher reference = alone.newMatcher();
                    long[] a = new long[TokenBitmask.words(vocab.size())];
                    long[] b = new long[a.length];
                    for (int token : walk) {
                        m.fillNextTokenMask(a);
                        reference.fillNextTokenMask(b);
                        assertThat(Arrays.equals(a, b)).isTrue();
                        assertThat(m.accept(token)).isTrue();
                        assertThat(reference.accept(token)).isTrue();
                    }
                    assertThat(m.isTerminated()).isTrue();
                    return walk.length;
                }));
            }
            int tokens = 0;
            for (Future<Integer> f : results) {
                tokens += f.get();
            }
            assertThat(tokens).isGreaterThan(8 * 10);
        } finally {
            pool.shutdownNow();
        }
    }
}
