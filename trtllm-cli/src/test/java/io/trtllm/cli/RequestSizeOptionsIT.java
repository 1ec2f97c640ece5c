package io.trtllm.cli;

import static io.trtllm.cli.MainIT.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.cli.MainIT.Result;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Size options up to 2^31 - 1 and beyond: each is a one-line error with exit code 2 naming the option
 * and the numbers, never a wrapped sum that gets through, an overflow or a stack trace.
 */
class RequestSizeOptionsIT {

    static void assertRefused(Result r, String message) {
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains(message).doesNotContain("\tat ").doesNotContain("Exception");
    }

    @Test
    void generateRefusesMaxTokensUpToIntMaxNamingTheNumbers() {
        assertRefused(run("generate", "--prompt", "Once upon a time", "--max-tokens", "2147483647"),
                "error: prompt (5 tokens) + max_tokens (2147483647) = 2147483652 exceeds max_seq_len 256");
        assertRefused(run("generate", "--prompt", "Once upon a time", "--max-tokens", "2147483643"),
                "error: prompt (5 tokens) + max_tokens (2147483643) = 2147483648 exceeds max_seq_len 256");
        assertRefused(run("generate", "--prompt", "Once upon a time", "--max-tokens", "2147483647", "--min-tokens", "2147483647"),
                "error: prompt (5 tokens) + max_tokens (2147483647) = 2147483652 exceeds max_seq_len 256");
        // Beyond an int: picocli's own usage error.
        assertRefused(run("generate", "--prompt", "Once upon a time", "--max-tokens", "2147483648"),
                "Invalid value for option '--max-tokens': '2147483648' is not an int");
    }

    @Test
    void generateRefusesCountsBeyondTheQueueOrTheVocabulary() {
        // Refused before the model is loaded: no maxBatchSize of 2^31 - 1 sequences is sized.
        assertRefused(run("generate", "--prompt", "hi", "--n", "2147483647"),
                "error: --n 2147483647 exceeds the request queue (max_queue_size 1024)");
        assertRefused(run("generate", "--prompt", "hi", "--best-of", "2147483647"),
                "error: --best-of 2147483647 exceeds the request queue (max_queue_size 1024)");
        assertRefused(run("generate", "--prompt", "hi", "--beam-width", "2147483647"),
                "error: --beam-width 2147483647 exceeds the request queue (max_queue_size 1024)");
        assertRefused(run("generate", "--prompt", "hi", "--max-tokens", "2", "--logprobs", "2147483647"),
                "error: logprobs (2147483647) exceeds the vocabulary size 32000");
        assertRefused(run("generate", "--prompt", "hi", "--min-tokens", "2147483647"),
                "error: min_tokens (2147483647) must be <= max_tokens (64)");
    }

    @Test
    void benchRefusesSizesWhoseSumsPassIntMax() {
        assertRefused(run("bench", "--pass", "decode", "--pass-context", "2147483647"),
                "error: --pass-context 2147483647 needs 2147483648 positions; the engine's max_seq_len is 256");
        // 193 positions in blocks of 32: 7 blocks a sequence.
        assertRefused(run("bench", "--pass", "decode", "--pass-sequences", "2147483647"),
                "error: --pass-sequences 2147483647 × 7 KV blocks each exceeds 2^31 - 1 blocks");
        assertRefused(run("bench", "--input-len", "2147483647", "--num-requests", "1"),
                "error: --input-len 2147483647 + --output-len 128 exceeds max_seq_len 256");
        assertRefused(run("bench", "--output-len", "2147483647", "--num-requests", "1"),
                "error: --input-len 128 + --output-len 2147483647 exceeds max_seq_len 256");
    }

    @Test
    void aDatasetEntryWhoseOutputTokensPassIntMaxIsRefusedBeforeAnythingRuns() {
        var entries = List.of(new BenchDataset.Entry("fine", new int[] {1, 2}, 10),
                new BenchDataset.Entry("huge", new int[] {1, 2, 3}, Integer.MAX_VALUE));
        assertThatThrownBy(() -> ThroughputBench.check(entries, 256))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("request task_id huge: 3 input + 2147483647 output tokens exceed max_seq_len 256");
    }
}
