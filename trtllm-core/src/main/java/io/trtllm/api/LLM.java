package io.trtllm.api;

import io.trtllm.executor.Sampler;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.builtin.BuiltinModels;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.tokenizer.IncrementalDetokenizer;
import io.trtllm.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The entry point: loads a model and generates text, in the shape of TensorRT-LLM's {@code LLM}.
 *
 * <pre>{@code
 * try (var llm = new LLM(LlmArgs.builder("stories15M").build())) {
 *     RequestOutput out = llm.generate("Once upon a time", SamplingParams.greedy(64));
 *     System.out.println(out.output().text());
 * }
 * }</pre>
 *
 * <p>This first version runs one request at a time on the CPU backend; concurrent callers wait
 * their turn. The executor with inflight batching replaces the loop in {@link #generate}.
 */
public final class LLM implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LLM.class);

    private static final int WARMUP_DECODE_STEPS = 160;
    private static final long WARMUP_BUDGET_NANOS = 1_500_000_000L;

    private final Path modelDir;
    private final ModelConfig config;
    private final Checkpoint checkpoint;
    private final Tokenizer tokenizer;
    private final CpuModelRunner runner;
    private final int maxSeqLen;
    private final int[] blockTable;
    private final Set<Integer> eosTokenIds;
    private final AtomicLong requestIds = new AtomicLong();
    private final ReentrantLock lock = new ReentrantLock();
    private volatile boolean closed;

    public LLM(LlmArgs args) {
        long start = System.nanoTime();
        if (args.backend().equals("cuda")) {
            throw new IllegalArgumentException("backend 'cuda' is not available in this version; use 'cpu' or 'auto'");
        }
        this.modelDir = resolveModel(args);
        this.config = ModelConfig.load(modelDir);
        int cap = Math.min(config.maxPositionEmbeddings(), LlmArgs.DEFAULT_MAX_SEQ_LEN_CAP);
        this.maxSeqLen = args.maxSeqLen() != null ? args.maxSeqLen() : cap;
        if (maxSeqLen > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("max_seq_len " + maxSeqLen + " exceeds the model's max_position_embeddings "
                    + config.maxPositionEmbeddings() + " (" + modelDir.resolve("config.json") + ")");
        }
        Path tokenizerDir = args.tokenizer() != null ? args.tokenizer() : modelDir;
        Checkpoint weights = Checkpoint.open(modelDir);
        Tokenizer tok = null;
        CpuModelRunner cpu = null;
        try {
            tok = Tokenizer.load(tokenizerDir);
            var kv = new KvCacheSpec((maxSeqLen + args.tokensPerBlock() - 1) / args.tokensPerBlock(), args.tokensPerBlock());
            int threads = args.threads() > 0 ? args.threads() : Runtime.getRuntime().availableProcessors();
            cpu = new CpuModelRunner(config, weights, kv, threads);
            this.blockTable = new int[cpu.kvCache().numBlocks()];
            for (int i = 0; i < blockTable.length; i++) {
                blockTable[i] = i;
            }
            warmUp(cpu);
        } catch (RuntimeException | Error e) {
            // Whatever was opened is closed again: threads, the native tokenizer, the mapped files.
            if (cpu != null) {
                cpu.close();
            }
            if (tok != null) {
                tok.close();
            }
            weights.close();
            throw e;
        }
        this.runner = cpu;
        this.checkpoint = weights;
        this.tokenizer = tok;
        Set<Integer> eos = new HashSet<>(config.eosTokenIds());
        eos.addAll(tokenizer.eosTokenIds());
        this.eosTokenIds = Set.copyOf(eos);
        LOG.info("Loaded {} ({}, {} layers) on cpu [{}], max_seq_len {}, in {} ms", args.model(), config.modelType(),
                config.numLayers(), runner.kernelDescription(), maxSeqLen, (System.nanoTime() - start) / 1_000_000);
    }

    /**
     * Runs a short prefill and decode steps on scratch KV blocks so that the JIT has compiled the
     * kernels before the first request: cold, the first ~100 tokens of stories15M run 4x slower.
     * Bounded by {@link #WARMUP_DECODE_STEPS} and {@link #WARMUP_BUDGET_NANOS}, so that a large
     * model (seconds per step on a CPU) does not spend minutes here.
     */
    private void warmUp(CpuModelRunner runner) {
        long start = System.nanoTime();
        int prompt = Math.max(1, Math.min(16, maxSeqLen / 2));
        int[] tokens = new int[prompt];
        for (int i = 0; i < prompt; i++) {
            tokens[i] = i % config.vocabSize();
        }
        runner.forward(Batch.of(new SequenceChunk(tokens, 0, blockTable, SequenceChunk.LogitsMode.LAST)));
        int steps = 0;
        while (steps < WARMUP_DECODE_STEPS && prompt < maxSeqLen && System.nanoTime() - start < WARMUP_BUDGET_NANOS) {
            int position = prompt + steps % (maxSeqLen - prompt);
            runner.forward(Batch.of(new SequenceChunk(new int[] {steps % config.vocabSize()}, position, blockTable,
                    SequenceChunk.LogitsMode.LAST)));
            steps++;
        }
        LOG.debug("Warm-up ({} prompt tokens, {} decode steps) took {} ms", prompt, steps,
                (System.nanoTime() - start) / 1_000_000);
    }

    private static Path resolveModel(LlmArgs args) {
        if (BuiltinModels.isBuiltin(args.model())) {
            return BuiltinModels.resolve(args.model(), CacheDirectory.resolve(args.cacheDir()));
        }
        Path dir = Path.of(args.model());
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("model '" + args.model() + "' is neither a builtin model "
                    + BuiltinModels.NAMES + " nor a directory");
        }
        return dir.toAbsolutePath();
    }

    /** The model's config.json. */
    public ModelConfig modelConfig() {
        return config;
    }

    /** The model's directory (for a builtin model, its converted copy in the cache). */
    public Path modelDirectory() {
        return modelDir;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The backend and how it runs, for logs and benchmarks (e.g. "cpu [Vector API, 512-bit, 2 threads]"). */
    public String backendDescription() {
        return runner.backend() + " [" + runner.kernelDescription() + "]";
    }

    /** Longest prompt + output this instance accepts. */
    public int maxSeqLen() {
        return maxSeqLen;
    }

    /** Generates a completion of {@code prompt} (tokenized with special tokens, e.g. BOS). */
    public RequestOutput generate(String prompt, SamplingParams params) {
        return generate(prompt, params, null);
    }

    /**
     * Generates a completion of {@code prompt}, handing each new piece of text to {@code onText} as
     * soon as it is complete (never half a UTF-8 character).
     */
    public RequestOutput generate(String prompt, SamplingParams params, @Nullable Consumer<String> onText) {
        return run(prompt, null, params, onText);
    }

    /** Generates a completion of a prompt given as token ids. */
    public RequestOutput generate(int[] promptTokenIds, SamplingParams params) {
        return run("", promptTokenIds.clone(), params, null);
    }

    /** {@code promptIds} null: tokenize {@code prompt} (under the lock, so close() cannot free the tokenizer meanwhile). */
    private RequestOutput run(String prompt, int @Nullable [] promptIds, SamplingParams params,
                              @Nullable Consumer<String> onText) {
        String requestId = Long.toString(requestIds.incrementAndGet());
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("LLM is closed");
            }
            int[] ids = promptIds != null ? promptIds : tokenizer.encode(prompt, true);
            checkArguments(ids, params);
            return decodeLoop(requestId, prompt, ids, params, onText);
        } finally {
            lock.unlock();
        }
    }

    private void checkArguments(int[] promptIds, SamplingParams params) {
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("the prompt is empty: at least one token is needed");
        }
        for (int id : promptIds) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("prompt token id " + id + " is out of range [0, " + config.vocabSize() + ")");
            }
        }
        if (promptIds.length + params.maxTokens() > maxSeqLen) {
            throw new IllegalArgumentException("prompt (" + promptIds.length + " tokens) + max_tokens ("
                    + params.maxTokens() + ") = " + (promptIds.length + params.maxTokens())
                    + " exceeds max_seq_len " + maxSeqLen);
        }
    }

    private RequestOutput decodeLoop(String requestId, String prompt, int[] promptIds, SamplingParams params,
                                     @Nullable Consumer<String> onText) {
        var random = params.seed() != null ? new SplittableRandom(params.seed()) : new SplittableRandom();
        // Streaming detokenizes token by token; otherwise one decode at the end gives the same text
        // (IncrementalDetokenizer's contract) without a native call per step.
        IncrementalDetokenizer detok = onText != null ? tokenizer.newDetokenizer(true) : null;
        List<Integer> generated = new ArrayList<>();
        int vocab = config.vocabSize();
        String finishReason = CompletionOutput.LENGTH;

        long t0 = System.nanoTime();
        float[] logits = runner.forward(Batch.of(new SequenceChunk(promptIds, 0, blockTable, SequenceChunk.LogitsMode.LAST)))[0];
        long t1 = System.nanoTime();
        int position = promptIds.length;
        while (true) {
            int next = Sampler.sample(logits, 0, vocab, params.temperature(), params.topK(), params.topP(), random);
            generated.add(next);
            if ((!params.ignoreEos() && eosTokenIds.contains(next)) || params.stopTokenIds().contains(next)) {
                finishReason = CompletionOutput.STOP;
                break;
            }
            if (detok != null) {
                String piece = detok.add(next);
                if (!piece.isEmpty()) {
                    onText.accept(piece);
                }
            }
            if (generated.size() >= params.maxTokens()) {
                break;
            }
            logits = runner.forward(Batch.of(new SequenceChunk(new int[] {next}, position, blockTable,
                    SequenceChunk.LogitsMode.LAST)))[0];
            position++;
        }
        String text;
        if (detok != null) {
            String tail = detok.flush();
            if (!tail.isEmpty()) {
                onText.accept(tail);
            }
            text = detok.text();
        } else {
            text = tokenizer.decode(textIds(generated, finishReason), true);
        }
        long t2 = System.nanoTime();
        int[] ids = generated.stream().mapToInt(Integer::intValue).toArray();
        var metrics = new RequestMetrics(promptIds.length, ids.length, t1 - t0, t2 - t1);
        var output = new CompletionOutput(0, text, ids, finishReason);
        return new RequestOutput(requestId, prompt, promptIds, List.of(output), true, metrics);
    }

    /** The ids whose text is the output: all but a final stop/EOS token, which never reaches the text. */
    private static int[] textIds(List<Integer> generated, String finishReason) {
        int n = finishReason.equals(CompletionOutput.STOP) ? generated.size() - 1 : generated.size();
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = generated.get(i);
        }
        return ids;
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            runner.close();
            tokenizer.close();
            checkpoint.close();
        } finally {
            lock.unlock();
        }
    }
}
