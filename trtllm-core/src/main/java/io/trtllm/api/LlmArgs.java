package io.trtllm.api;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * What an {@link LLM} loads and how it runs, named as TensorRT-LLM's {@code LlmArgs}.
 *
 * @param model          a builtin model name ({@code stories15M}) or a Hugging Face model directory
 * @param tokenizer      directory holding {@code tokenizer.json} when it is not the model's, or null
 * @param backend        {@code auto} or {@code cpu} ({@code cuda} comes with the CUDA backend)
 * @param maxSeqLen      longest prompt + output, or null for min(max_position_embeddings, 4096)
 * @param tokensPerBlock tokens per KV-cache block
 * @param threads        CPU threads for the forward pass; 0 = all available processors
 * @param cacheDir       cache root, or null for {@code TRTLLM_CACHE_DIR} / {@code ~/.cache/trtllm}
 */
public record LlmArgs(
        String model,
        @Nullable Path tokenizer,
        String backend,
        @Nullable Integer maxSeqLen,
        int tokensPerBlock,
        int threads,
        @Nullable Path cacheDir) {

    /** Backends that can be asked for. */
    public static final List<String> BACKENDS = List.of("auto", "cpu", "cuda");
    /** Upper bound of the default max_seq_len, so that long-context models don't reserve huge caches. */
    public static final int DEFAULT_MAX_SEQ_LEN_CAP = 4096;

    public LlmArgs {
        if (model.isBlank()) {
            throw new IllegalArgumentException("model must not be blank: give a builtin model name (stories15M) "
                    + "or a Hugging Face model directory");
        }
        backend = backend.toLowerCase(Locale.ROOT);
        if (!BACKENDS.contains(backend)) {
            throw new IllegalArgumentException("backend '" + backend + "' is not one of " + BACKENDS);
        }
        if (maxSeqLen != null && maxSeqLen <= 0) {
            throw new IllegalArgumentException("max_seq_len must be > 0, got " + maxSeqLen);
        }
        if (tokensPerBlock <= 0) {
            throw new IllegalArgumentException("tokens_per_block must be > 0, got " + tokensPerBlock);
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = all processors), got " + threads);
        }
    }

    public static Builder builder(String model) {
        return new Builder(model);
    }

    /** Builder with defaults: backend auto, 32 tokens per block, all processors. */
    public static final class Builder {
        private final String model;
        private @Nullable Path tokenizer;
        private String backend = "auto";
        private @Nullable Integer maxSeqLen;
        private int tokensPerBlock = 32;
        private int threads;
        private @Nullable Path cacheDir;

        private Builder(String model) {
            this.model = model;
        }

        public Builder tokenizer(@Nullable Path tokenizer) {
            this.tokenizer = tokenizer;
            return this;
        }

        public Builder backend(String backend) {
            this.backend = backend;
            return this;
        }

        public Builder maxSeqLen(@Nullable Integer maxSeqLen) {
            this.maxSeqLen = maxSeqLen;
            return this;
        }

        public Builder tokensPerBlock(int tokensPerBlock) {
            this.tokensPerBlock = tokensPerBlock;
            return this;
        }

        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        public Builder cacheDir(@Nullable Path cacheDir) {
            this.cacheDir = cacheDir;
            return this;
        }

        public LlmArgs build() {
            return new LlmArgs(model, tokenizer, backend, maxSeqLen, tokensPerBlock, threads, cacheDir);
        }
    }
}
