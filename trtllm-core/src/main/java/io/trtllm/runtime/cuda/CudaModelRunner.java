package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.check;

import io.trtllm.api.config.RuntimeConfig;
import static org.bytedeco.cuda.global.cudart.cudaEventCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventDisableTiming;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaEventSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaGraphLaunch;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;

import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.RankShard;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.Communicator;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSizer;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.MaskedPass;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.PendingPass;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.sampling.Bitmask;
import io.trtllm.sampling.TokenSampler;
import java.util.List;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The forward pass of a Llama-family decoder on one CUDA device, the same computation as
 * {@link io.trtllm.runtime.cpu.CpuModelRunner}: weights in one 16-bit type, BF16 by default or F16
 * (checkpoints of other types are converted while uploading), GEMM inputs in that type with F32
 * accumulation and F32 outputs (cuBLAS), an F32 residual stream, a paged KV cache in the same 16-bit
 * type whose block ids are the executor's. "bf16" in the shapes below stands for that type.
 *
 * <pre>
 * x = embed[tokens]                                                       embed        (T, dim) f32
 * for each layer:
 *   xn = rmsnorm(x)                                                       rmsnorm      bf16
 *   qkv = xn·[Wq;Wk;Wv]ᵀ                                                  cuBLAS       (T, qkvDim) f32
 *   +bias, q/k rmsnorm per head, rope(q,k), k,v -> cache slots            qkv_post
 *   att = softmax(q·Kᵀ/√d, causal, window)·V over the block table         attention_tc (prefill tiles),
 *                                                              attention_decode (+ attention_reduce) (T, qDim) bf16
 *   x += att·Woᵀ (+bias)                                                  cuBLAS β=1   (add_bias)
 *   xn = rmsnorm(x) ; gu = xn·[Wg;Wu]ᵀ ; h = silu(g)*u ; x += h·Wdᵀ        rmsnorm, cuBLAS, silu_mul, cuBLAS β=1
 * logits = rmsnorm(x[rows that need them])·Wlmᵀ                          rmsnorm, cuBLAS (R, vocab) f32 -> host
 * </pre>
 *
 * <p>Passes of at most {@link Gemv#MAX_ROWS} rows (decode) run the projections through the
 * bandwidth-bound {@link Gemv} kernel instead of cuBLAS, gate|up and SiLU·up fused into one launch.
 *
 * <p>One pass: one host-to-device copy of the pass's token ids, positions, slots and block tables,
 * the launches on one stream, one device-to-host copy of the logits rows asked for (or only token ids:
 * the argmax of {@link SequenceChunk.LogitsMode#ARGMAX} rows and the draws of
 * {@link SequenceChunk.LogitsMode#SAMPLE} rows, made by the kernel {@code sample_rows} as
 * {@link TokenSampler} does on the host), one synchronization. Not thread-safe (one executor thread
 * drives it); the calling thread is bound to the device on each pass.
 *
 * <p>A device error fails the pass with a {@link CudaException} naming the call and the CUDA error;
 * after one that is not an allocation failure, the CUDA context may be corrupt, so the runner reports it
 * as its {@link #failure()} (the executor then stops serving) and every later pass fails at once. Running
 * out of device memory names the bytes asked for and the bytes free.
 *
 * <p>System properties read at construction: {@code trtllm.cuda.graphs=false} runs decode passes eagerly;
 * {@code trtllm.cuda.deviceSampling=false} copies SAMPLE rows to the host and draws there (the
 * comparison of the benchmarks); {@code trtllm.cuda.gemv=false} runs every projection through cuBLAS;
 * {@code trtllm.cuda.attention=rows} runs every row through the row kernel {@code attention} (one block per
 * row and head, scalar math: the kernel before tensor-core tiles and split decode, see {@link AttentionPlan}),
 * decode rows run through {@code attention_decode_gqa} (one block per row and up to 4 query heads of a KV head,
 * which read each key and value once; H100, 2026-12-07: within the row kernel's bound, batched = alone bit for bit,
 * 8B-shape decode 256 @ 256 214 µs against 603 µs per head), {@code trtllm.cuda.attention=heads} through
 * {@code attention_decode} (one block per row and query head, for comparison);
 * {@code trtllm.cuda.attention.fa=true} sends prefill tiles through {@code attention_fa} (128-row tiles, K/V copies
 * overlapped with the mma) instead of {@code attention_tc} ({@link #ATTENTION_FA}; opt-in until its GPU run);
 * {@code trtllm.cuda.profile=true} measures the GPU time of each step of every pass ({@link StepProfile}, CUDA
 * graphs off), logged at debug level and read by {@link #profile()}.
 * {@code trtllm.cuda.fp8Gemm} chooses how an FP8 engine multiplies ({@link Fp8GemmMode}): {@code auto} (the default)
 * W8A8 through cuBLASLt ({@link Fp8Gemm}) except in the decode passes the weight-only FP8 GEMV takes (at most 8
 * rows), {@code true} W8A8 in every pass, {@code false} weight-only everywhere (the FP8 GEMV for decode rows, the
 * weights dequantized for cuBLAS in prefill); {@code trtllm.cuda.fp8OuterVector=false}
 * makes the FP8 GEMMs scale in a separate epilogue kernel even where cuBLASLt could scale (for comparison).
 * {@code trtllm.cuda.overlapGuided=true} lets guided rows into overlapped decoding, their masks given after the
 * launch ({@link #OVERLAP_GUIDED}; opt-in until its GPU run: without it guided passes are awaited before the next launch).
 *
 * <p>FP8 engines, W8A8: each FP8 projection whose shape {@link Fp8Gemm#fits} takes E4M3
 * inputs with a scale per token, quantized where they are made: {@code rmsnorm_f8} (the q|k|v and gate|up
 * inputs), {@code silu_mul_f8_raw} (the down projection's, applying the gate|up GEMM's scales on the way),
 * {@code quant_f8} (the attention output, the o-projection's). Per-token scales keep a row's arithmetic independent
 * of the other rows of its pass (a per-tensor dynamic scale would not); a decode row computed alone (GEMV,
 * BF16 activations) and in a pass of more than 8 rows (W8A8) differs by the activations' E4M3 rounding.
 * The LM head is never W8A8: engines of FP8 recipe 2 (see {@code CudaQuantizedTransform.FP8_RECIPE}) hold it in
 * the weights' 16-bit type, as ModelOpt's FP8 checkpoints do (the logits' precision: on stories15M a BF16 head cut
 * the top-1 flips against float32 from 75 to 61 of 2,037 positions, docs/PERFORMANCE.md "FP8 recipe"); an engine
 * of recipe 1 keeps its FP8 head weight-only.
 *
 * <p>{@link #enqueue} is the pass; its parts each do one job and own what they allocate:
 * {@link DeviceMemory} (every allocation, the out-of-memory messages), {@link CudaWeights} (upload and
 * conversion), {@link DeviceKvCache}, {@link ActivationBuffers}, {@link PassInputs} (staging of token
 * ids, positions, slots and block tables), {@link LogitsBuffers} (logits rows and token ids, copied back
 * per chunk), {@link SamplingBuffers} (the device draws' parameters), {@link GraphCache} (decode passes
 * as CUDA graphs), {@link Projections} (cuBLAS or the GEMV). GPU tests may install a {@link PassHook}
 * ({@link #installPassHook}); production runners have none.
 */
final class CudaModelRunner implements ModelRunner {
    private static final Logger LOG = LoggerFactory.getLogger(CudaModelRunner.class);
    /** Device memory kept free beyond the KV cache for activations of large passes and cuBLAS. */
    private static final long HEADROOM_BYTES = 1L << 30;
    /** Largest decode batch replayed as a CUDA graph (padded to a power of two); larger ones run eagerly. */
    private static final int MAX_GRAPH_BATCH = 256;
    private static final int SAMPLE_THREADS = 1024;
    /** System property: {@code rows} or {@code gqa} chooses other attention kernels (see the class comment). */
    static final String ATTENTION_PROPERTY = "trtllm.cuda.attention";
    /**
     * System property: {@code true} splits the decode attention of passes of at most 8 decode rows from 32 positions
     * instead of 256 ({@link AttentionPlan#SMALL_SPLIT_KEYS}): a single row then runs as more than one block per KV
     * head. Opt-in until a GPU run has checked and timed it (docs/PERFORMANCE.md, branch i15-int4).
     */
    static final String SMALL_SPLITS = "trtllm.cuda.attention.smallSplits";
    /**
     * System property: {@code true} runs prefill tiles through {@code attention_fa} ({@link AttentionPlan#FA_TILE_ROWS}
     * rows a tile) instead of {@code attention_tc}, in engines whose KV cache holds the weights' 16-bit type. Opt-in until a GPU run has checked and timed it (docs/GPU-TESTS.md,
     * branch i15-attn).
     */
    static final String ATTENTION_FA = "trtllm.cuda.attention.fa";
    /** The hook that runners constructed from now on get (GPU tests only; see {@link PassHook}). */
    private static volatile @Nullable PassHook installedHook;
    /** System property: {@code auto}, {@code true} or {@code false}, see {@link Fp8GemmMode} and the class comment. */
    static final String FP8_GEMM = "trtllm.cuda.fp8Gemm";
    /**
     * System property: {@code true} replays the decode passes of tensor-parallel ranks whose all-reduces go through
     * NCCL (ranks on distinct devices, one stage) as CUDA graphs, the collectives captured with the kernels. Opt-in
     * until a multi-GPU run has proven it (docs/GPU-TESTS.md, "Pending — tensor and pipeline parallelism").
     */
    static final String RANK_GRAPHS = "trtllm.cuda.rankGraphs";
    /**
     * System property: {@code false} keeps guided rows out of overlapped decoding (their passes are awaited before the
     * next launch, as before masks could come late: {@link #launch(Batch, boolean[])}). On with overlap by default;
     * the way back should the late-mask path fail on a device (it has not run on one yet: docs/GPU-TESTS.md).
     */
    static final String OVERLAP_GUIDED = "trtllm.cuda.overlapGuided";
    /** System property: {@code false} makes the FP8 GEMMs scale in {@code f8_epilogue} instead of cuBLASLt. */
    static final String FP8_OUTER_VECTOR = "trtllm.cuda.fp8OuterVector";

    private final ModelConfig config;
    private final CudaDevice device;
    /** BF16 or F16: the weights, the GEMMs' activation inputs and (unless FP8) the KV cache. */
    private final DType weightType;
    /** The KV cache's elements: {@link #weightType} or F8_E4M3. */
    private final DType kvType;
    private final KvCacheSpec kvSpec;
    private final CUstream_st stream = new CUstream_st();
    private final DeviceMemory memory;
    private final KernelModule kernels;
    private final CUfunc_st embedFn;
    private final CUfunc_st rmsnormFn;
    private final CUfunc_st addBiasFn;
    private final CUfunc_st qkvPostFn;
    private final CUfunc_st attentionFn;
    /** attention_decode_gqa, or attention_decode with {@code trtllm.cuda.attention=heads}. */
    private final CUfunc_st attentionDecodeFn;
    /** Query heads per block of {@link #attentionDecodeFn}. */
    private final int decodeHeadsPerBlock;
    private final CUfunc_st attentionReduceFn;
    /** attention_tc, or null where the model's heads do not fit it ({@link AttentionPlan#tensorCores}). */
    private final @Nullable CUfunc_st attentionTcFn;
    /** attention_fa with {@link #ATTENTION_FA} (where attention_tc compiles), else null: tiles through attention_tc. */
    private final @Nullable CUfunc_st attentionFaFn;
    /** False with {@code trtllm.cuda.attention=rows}: every row through {@code attention}. */
    private final boolean attentionKernels;
    /** Whether small decode passes split their attention from 32 positions ({@link #SMALL_SPLITS}). */
    private final boolean smallSplits = Boolean.getBoolean(SMALL_SPLITS);
    private final AttentionScratch attentionScratch;
    /** The per-step GPU times with {@code trtllm.cuda.profile=true}, else null. */
    private final @Nullable StepProfile profile;
    private final CUfunc_st spinFn;
    /** The pass's attention plan, set before its launches are enqueued. */
    private AttentionPlan plan = new AttentionPlan(new int[0], new int[0], 1);
    private final CUfunc_st siluMulFn;
    private final CUfunc_st argmaxFn;
    private final CUfunc_st maskFn;
    private final CUfunc_st sampleFn;
    private final CUfunc_st rmsnormF8Fn;
    private final CUfunc_st siluMulF8Fn;
    private final CUfunc_st siluMulF8RawFn;
    private final CUfunc_st quantF8Fn;
    private final Projections projections;
    private final CudaWeights weights;
    private final DeviceKvCache kvCache;
    private final ActivationBuffers activations;
    private final PassInputs inputs;
    private final LogitsBuffers outputs;
    private final SamplingBuffers sampling;
    /** Guided decoding's token masks, applied on the device before the argmax and the draws. */
    private final MaskBuffers masks;
    private final GraphCache graphs;
    private final boolean useGraphs;
    /** Whether this rank's decode passes replay CUDA graphs: {@link #RANK_GRAPHS}, NCCL all-reduces, one stage. */
    private final boolean rankGraphs;
    private final boolean deviceSampling;
    private final @Nullable PassHook hook;
    /** The rank's share of a split model, or null for the whole model. */
    private final @Nullable RankShard shard;
    /** The all-reduce of a tensor-parallel rank's partial sums, or null for the whole model and TP 1. */
    private final @Nullable DeviceExchange tpExchange;
    /** The activations from the previous stage and to the next, or null for the whole model and PP 1. */
    private final @Nullable DeviceExchange ppExchange;

    /** Overlapped decoding is on ({@link RuntimeConfig#cudaOverlap()}, with device draws, no TP, no profile). */
    private final boolean overlap;
    /** Overlapped decoding takes guided rows too, their masks given after the launch ({@link #OVERLAP_GUIDED}). */
    private final boolean masksLater;
    private final CUfunc_st chainFn;
    /** Recorded after a pass's copies out of the pinned staging buffers: the next pass may then rewrite them. */
    private final CUevent_st uploaded = new CUevent_st();
    /** Recorded at the end of a pass, per slot of {@link LogitsBuffers#copyBack} (passes take the slots in turn). */
    private final CUevent_st[] done = {new CUevent_st(), new CUevent_st()};
    private int nextSlot;
    /** Passes launched ({@link #launch}) and not yet awaited, oldest first (at most two). */
    private final java.util.ArrayDeque<Enqueued> unawaited = new java.util.ArrayDeque<>();
    /** Per chunk of the last enqueued pass: the ids row of the token it chose on the device, or -1. */
    private int[] lastChosenRows = new int[0];

    private @Nullable Thread boundThread;
    private @Nullable CudaException failure;
    private boolean closed;

    /** A BF16 runner whose kernels NVRTC compiles (the in-memory cache aside). */
    CudaModelRunner(ModelConfig config, Checkpoint weights, KvCacheSizer kvSizer, int ordinal) {
        this(config, weights, kvSizer, ordinal, DType.BF16, null);
    }

    /**
     * A runner on device {@code ordinal}.
     *
     * @param weightType  {@link DType#BF16} or {@link DType#F16}: the type of the weights on the device, of the
     *                    GEMMs' activation inputs and of the KV cache
     * @param precompiled the kernels an engine carries, used when they fit this device and model (else NVRTC
     *                    compiles them, saying why in one log line), or null
     */
    CudaModelRunner(ModelConfig config, Checkpoint weights, KvCacheSizer kvSizer, int ordinal, DType weightType,
                    @Nullable CompiledKernels precompiled) {
        this(config, weights, kvSizer, ordinal, weightType, precompiled, RuntimeConfig.fromSystemProperties());
    }

    /** As above, with the fast paths (CUDA graphs, device sampling, GEMV) that {@code runtime} allows. */
    CudaModelRunner(ModelConfig config, Checkpoint weights, KvCacheSizer kvSizer, int ordinal, DType weightType,
                    @Nullable CompiledKernels precompiled, RuntimeConfig runtime) {
        this(config, weights, kvSizer, ordinal, weightType, weightType, precompiled, runtime, null, null, null);
    }

    /**
     * As above, with the KV cache in {@code kvType}: {@code weightType}, or {@link DType#F8_E4M3} (one byte a
     * value, scale 1: what the cache holds is the keys and values rounded to E4M3, saturating at ±448; sm_89 or
     * newer).
     */
    CudaModelRunner(ModelConfig config, Checkpoint weights, KvCacheSizer kvSizer, int ordinal, DType weightType,
                    DType kvType, @Nullable CompiledKernels precompiled, RuntimeConfig runtime) {
        this(config, weights, kvSizer, ordinal, weightType, kvType, precompiled, runtime, null, null, null);
    }

    /**
     * As above, for one rank of a split model when {@code shard} is given: {@code config} is the shard's
     * {@link RankShard#localConfig()} and {@code weights} its rank's file of an engine built for the split. The pass
     * then embeds the rank's vocabulary rows (0 for other tokens) on the first stage, or receives the residual
     * stream from the previous stage through {@code pp}; sums over the TP ranks through {@code tp} after the
     * embedding and after the o and down projections; and sends the residual stream to the next stage, or computes
     * its LM head rows on the last. Each exchange goes through NCCL on device buffers when its communicator is a
     * {@link NcclCommunicator}, else through pinned host memory ({@link DeviceExchange#of}). Its logits rows come
     * back to the host ({@link #passLocal}): device draws are off for ranks (a draw needs the whole vocabulary row,
     * which no rank holds), and so are CUDA graphs, unless {@link #RANK_GRAPHS} asks for them where every exchange
     * can be captured (NCCL all-reduces, one stage; the host-staged path synchronizes the stream).
     *
     * @param tp the rank's communicator among the TP ranks of its stage (any for TP 1, where it is not used)
     * @param pp the rank's communicator among the stages of its TP rank, or null for one stage
     */
    CudaModelRunner(ModelConfig config, Checkpoint weights, KvCacheSizer kvSizer, int ordinal, DType weightType,
                    DType kvType, @Nullable CompiledKernels precompiled, RuntimeConfig runtime,
                    @Nullable RankShard shard, @Nullable Communicator tp, @Nullable Communicator pp) {
        long start = System.nanoTime();
        this.config = config;
        this.shard = shard;
        if ((shard == null) != (tp == null)) {
            throw new IllegalArgumentException("a rank's shard and its TP communicator come together");
        }
        if (shard != null && (shard.parallelism().pipelineParallelSize() > 1) != (pp != null)) {
            throw new IllegalArgumentException("a pipeline stage needs its pipeline communicator, only it: " + shard);
        }
        if (weightType != DType.BF16 && weightType != DType.F16) {
            throw new IllegalArgumentException("the CUDA runner's weight type is BF16 or F16, got " + weightType);
        }
        if (kvType != weightType && kvType != DType.F8_E4M3) {
            throw new IllegalArgumentException("the CUDA runner's KV cache is in its weight type (" + weightType
                    + ") or F8_E4M3, got " + kvType);
        }
        this.weightType = weightType;
        this.kvType = kvType;
        this.profile = Boolean.getBoolean(StepProfile.PROPERTY) ? new StepProfile(stream) : null;
        this.useGraphs = runtime.cudaGraphs() && shard == null && profile == null;
        this.deviceSampling = runtime.cudaDeviceSampling() && shard == null;
        this.overlap = runtime.cudaOverlap() && deviceSampling && profile == null;
        // Opt-in on top of trtllm.cuda.overlap until a GPU has run the late-mask path (docs/GPU-TESTS.md, "Pending").
        this.masksLater = overlap && Boolean.getBoolean(OVERLAP_GUIDED);
        this.hook = installedHook;
        check(cudaSetDevice(ordinal), "cudaSetDevice");
        boundThread = Thread.currentThread();
        this.device = CudaDevice.query(ordinal);
        this.memory = new DeviceMemory(device);
        this.tpExchange = tp == null || tp.size() == 1 ? null : DeviceExchange.of(tp, memory);
        this.ppExchange = pp == null ? null : DeviceExchange.of(pp, memory);
        // A host-staged exchange synchronizes the stream, and a stage's send waits for it: neither can be captured.
        this.rankGraphs = shard != null && runtime.cudaGraphs() && profile == null && Boolean.getBoolean(RANK_GRAPHS)
                && tpExchange instanceof DeviceExchange.Nccl && ppExchange == null;
        this.graphs = new GraphCache(stream);
        // Before a growing buffer is replaced, graphs recorded over its address go and the stream drains.
        Runnable beforeReplace = () -> {
            graphs.drop();
            Cuda.sync(stream);
        };
        this.activations = new ActivationBuffers(config, memory, beforeReplace);
        this.outputs = new LogitsBuffers(config, memory, beforeReplace);
        this.inputs = new PassInputs(memory, beforeReplace);
        this.sampling = new SamplingBuffers(memory, beforeReplace);
        this.masks = new MaskBuffers(memory, config.vocabSize(), beforeReplace);
        this.attentionScratch = new AttentionScratch(memory, beforeReplace);
        this.attentionKernels = !"rows".equals(System.getProperty(ATTENTION_PROPERTY));
        boolean ok = false;
        try {
            check(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
            check(cudaEventCreateWithFlags(uploaded, cudaEventDisableTiming), "cudaEventCreateWithFlags");
            for (CUevent_st event : done) {
                check(cudaEventCreateWithFlags(event, cudaEventDisableTiming), "cudaEventCreateWithFlags");
            }
            if (kvType == DType.F8_E4M3) {
                CudaBackend.checkFp8KvCache(device.smArch());
            }
            this.kernels = KernelModule.load(device.smArch(), KernelSource.defines(config, weightType, kvType), precompiled);
            this.projections = new Projections(weightType, kernels, stream, memory, runtime.cudaGemv());
            this.embedFn = kernels.function("embed");
            this.rmsnormFn = kernels.function("rmsnorm");
            this.addBiasFn = kernels.function("add_bias");
            this.qkvPostFn = kernels.function("qkv_post");
            this.attentionFn = kernels.function("attention");
            boolean gqa = !"heads".equals(System.getProperty(ATTENTION_PROPERTY));
            this.attentionDecodeFn = kernels.function(gqa ? "attention_decode_gqa" : "attention_decode");
            this.decodeHeadsPerBlock = gqa ? AttentionPlan.decodeHeadsPerBlock(config.numHeads() / config.numKvHeads()) : 1;
            this.attentionReduceFn = kernels.function("attention_reduce");
            this.attentionTcFn = AttentionPlan.tensorCores(config.headDim()) ? kernels.function("attention_tc") : null;
            // attention_fa's copies overlap the mma only where the cache holds the mma's type (cp.async); an FP8 cache
            // would run it with synchronous copies at one block an SM, so FP8-KV engines keep attention_tc.
            this.attentionFaFn = attentionTcFn != null && kvType == weightType && Boolean.getBoolean(ATTENTION_FA)
                    ? kernels.function("attention_fa") : null;
            this.spinFn = kernels.function("spin_wait");
            this.chainFn = kernels.function("chain_tokens");
            this.siluMulFn = kernels.function("silu_mul");
            this.argmaxFn = kernels.function("argmax_rows");
            this.sampleFn = kernels.function("sample_rows");
            this.maskFn = kernels.function("mask_rows");
            this.rmsnormF8Fn = kernels.function("rmsnorm_f8");
            this.siluMulF8Fn = kernels.function("silu_mul_f8");
            this.siluMulF8RawFn = kernels.function("silu_mul_f8_raw");
            this.quantF8Fn = kernels.function("quant_f8");
            if (hook != null) {
                LOG.warn("A test's pass hook is installed: it runs before the launches of every pass");
            }
            if (CudaWeights.holdsFp8(weights)) {
                CudaBackend.checkFp8(device.smArch());
            }
            this.weights = new CudaWeights(config, weights, weightType, memory);
            if (this.weights.maxQuantizedElements() > 0) {
                projections.reserveScratch(this.weights.maxQuantizedElements(), this.weights.maxQuantizedCols());
            }
            Fp8GemmMode fp8Mode = Fp8GemmMode.parse(System.getProperty(FP8_GEMM));
            if (this.weights.linearFormat() == DeviceMatrix.Format.FP8 && fp8Mode != Fp8GemmMode.WEIGHT_ONLY) {
                projections.enableFp8Gemm(!"false".equals(System.getProperty(FP8_OUTER_VECTOR)),
                        fp8Mode == Fp8GemmMode.AUTO);
                activations.fp8();
            }
            ensureCapacity(ActivationBuffers.MIN_ROWS, 1, 0, 1);

            long perToken = 2L * config.numLayers() * config.kvDim() * kvType.byteSize();
            this.kvSpec = kvSizer.size(Math.max(0, DeviceMemory.freeBytes() - HEADROOM_BYTES), perToken);
            this.kvCache = new DeviceKvCache(config, kvSpec, kvType.byteSize(), memory);
            ok = true;
            LOG.debug("CUDA runner on {}: {} layers, KV cache {} blocks × {} tokens ({} MiB), ready in {} ms", device,
                    this.weights.layers(), kvSpec.numBlocks(), kvSpec.blockSize(), kvCache.bytes() >> 20,
                    (System.nanoTime() - start) / 1_000_000);
        } finally {
            if (!ok) {
                close();
            }
        }
    }

    /**
     * Installs the hook that runners constructed from now on run before each pass's launches, or none
     * ({@code null}). For GPU tests that inject device faults; production code never calls it.
     */
    static void installPassHook(@Nullable PassHook hook) {
        installedHook = hook;
    }

    /** Where the kernels came from: the engine's cubin, or NVRTC at load. */
    String kernelOrigin() {
        return kernels.origin();
    }

    @Override
    public long deviceMemoryBytes() {
        return memory.deviceBytes();
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public KvCacheSpec kvCache() {
        return kvSpec;
    }

    @Override
    public String backend() {
        return "cuda";
    }

    @Override
    public String description() {
        String weightsNote = switch (weights.linearFormat()) {
            case FLOAT -> weightType + " weights";
            case INT8 -> "weight-only INT8 (" + weightType + " activations)";
            case INT4 -> "weight-only INT4 (" + weightType + " activations)";
            case FP8 -> (projections.fp8Gemm() != null
                    ? "FP8 E4M3 weights, W8A8 through cuBLASLt (per-token activation scales)"
                    : "FP8 E4M3 weights (" + weightType + " activations)")
                    + (weights.lmHead.quantized() ? ", FP8 LM head" : ", " + weightType + " LM head");
        };
        String kvNote = kvType == DType.F8_E4M3 ? "FP8 E4M3 KV cache (scale 1)" : weightType + " KV cache";
        return device + ", " + weightsNote + ", " + kvNote + ", cuBLAS + kernels " + kernels.origin()
                + projections.gemvNote() + (overlap ? ", overlapped decode" : "");
    }

    @Override
    public ForwardResult forward(Batch batch) {
        if (shard != null) {
            throw new IllegalStateException("a tensor-parallel rank runs passLocal, driven by its rank group");
        }
        checkUsable();
        batch.checkAgainst(config, kvSpec);
        bindThread();
        try {
            return run(batch);
        } catch (CudaException e) {
            throw failed(e);
        }
    }

    private void checkUsable() {
        if (closed) {
            throw new IllegalStateException("the CUDA runner is closed");
        }
        if (failure != null) {
            throw new IllegalStateException("the CUDA backend is unusable after an earlier device error: "
                    + failure.getMessage(), failure);
        }
    }

    /** {@code e}, recorded as this runner's failure unless it is an allocation failure (the context is then intact). */
    private CudaException failed(CudaException e) {
        if (e.outOfMemory()) {
            return e;
        }
        CudaException error = withDeviceError(e);
        failure = error;
        LOG.error("The CUDA backend is unusable from now on: {}", error.getMessage());
        return error;
    }

    /**
     * {@code e}, with the device's own error added when the call that failed reported another (cuBLAS
     * says "execution failed" where the stream holds "an illegal memory access"): so that the message
     * always names the CUDA error. After a sticky error the synchronization returns at once.
     */
    private CudaException withDeviceError(CudaException e) {
        int status = cudaStreamSynchronize(stream);
        if (status == 0 || e.getMessage().endsWith("(" + status + ")")) {
            return e;
        }
        var error = new CudaException(e.getMessage() + "; the device reports: " + Cuda.errorString(status) + " (" + status
                + ")", status, false);
        error.addSuppressed(e);
        return error;
    }

    /** The device error that made this runner unusable (see the class comment), or null. */
    @Override
    public @Nullable Throwable failure() {
        return failure;
    }

    /** FP8 W8A8 GEMMs enqueued since construction (0 unless an FP8 engine runs W8A8); for tests. */
    long fp8GemmCalls() {
        Fp8Gemm f = projections.fp8Gemm();
        return f == null ? 0 : f.calls();
    }

    /** Logits rows copied to the host since construction: 0 while every row is an argmax or a device draw. */
    long logitsRowsCopied() {
        return outputs.rowsCopied();
    }

    /** Bytes of token masks (and their row indices) copied to the device since construction; for tests. */
    long maskBytesUploaded() {
        return masks.uploadedBytes();
    }

    private void bindThread() {
        if (boundThread != Thread.currentThread()) {
            check(cudaSetDevice(device.ordinal()), "cudaSetDevice");
            boundThread = Thread.currentThread();
        }
    }

    /**
     * Grows activations to {@code rows} rows, logits to {@code logitRows} rows, and the per-pass inputs to
     * {@code sequences} block tables of {@code stride} entries.
     */
    private void ensureCapacity(int rows, int logitRows, int sequences, int stride) {
        activations.ensure(rows);
        outputs.ensure(logitRows);
        inputs.ensure(activations.capacity(), outputs.capacity(), sequences, stride);
    }

    private ForwardResult run(Batch batch) {
        finishUnawaited(); // a pass launched and not yet awaited keeps its result for its await
        Enqueued pass = enqueuePass(batch, null);
        ForwardResult result = pass.collect();
        if (profile != null) {
            profile.end();
            LOG.debug("GPU time per step of a pass of {} rows:\n{}", batch.tokenCount(), profile.table());
        }
        return result;
    }

    @Override
    public boolean overlaps() {
        return overlap;
    }

    /**
     * Overlapped decoding ({@link RuntimeConfig#cudaOverlap()}): enqueues the pass (its decodes that chain take their
     * tokens from the ids the previous pass chose, still on the device: {@code chain_tokens}) and returns; the host
     * stages the next pass while this one runs. Its ids come back into one of two pinned slots, so the host reads
     * one pass's ids while the next pass's are copied.
     */
    @Override
    public PendingPass launch(Batch batch) {
        if (!overlap) {
            return ModelRunner.super.launch(batch);
        }
        checkUsable();
        batch.checkAgainst(config, kvSpec);
        if (unawaited.size() > 1) {
            throw new IllegalStateException("two passes are in flight; await the older before launching another");
        }
        if (!unawaited.isEmpty() && unawaited.peekLast().awaitingMasks) {
            throw new IllegalStateException("the last pass still waits for its token masks");
        }
        bindThread();
        try {
            Enqueued pass = enqueuePass(batch, null);
            unawaited.addLast(pass);
            return pass;
        } catch (CudaException e) {
            throw failed(e);
        }
    }

    /**
     * Overlapped guided decoding: as {@link #launch(Batch)}, but the pass's rows are reduced to tokens only once the
     * masks of its chunks marked in {@code masksLater} arrive ({@link MaskedPass#masks}): the layers and the LM head
     * are enqueued now (a decode pass: the graph of its forward half), and {@code mask_rows}, {@code argmax_rows} and
     * {@code sample_rows} (the graph of its choice half) with the masks' upload then. The device computes the layers
     * while the host reads the pass before, advances the guides and stages the masks.
     */
    @Override
    public MaskedPass launch(Batch batch, boolean[] masksLater) {
        if (!this.masksLater) {
            throw new UnsupportedOperationException("this CUDA runner takes no token masks after the launch "
                    + "(trtllm.cuda.overlap, trtllm.cuda.overlapGuided)");
        }
        checkUsable();
        batch.checkAgainst(config, kvSpec);
        List<SequenceChunk> chunks = batch.chunks();
        if (masksLater.length != chunks.size()) {
            throw new IllegalArgumentException("masksLater has " + masksLater.length + " entries for " + chunks.size()
                    + " chunks");
        }
        for (int i = 0; i < masksLater.length; i++) {
            SequenceChunk c = chunks.get(i);
            if (masksLater[i] && (c.masked() || (c.logits() != SequenceChunk.LogitsMode.ARGMAX
                    && c.logits() != SequenceChunk.LogitsMode.SAMPLE))) {
                throw new IllegalArgumentException("chunk " + i + " cannot take its token mask later: "
                        + (c.masked() ? "it has one" : "it chooses no token (" + c.logits() + ")"));
            }
        }
        if (unawaited.size() > 1) {
            throw new IllegalStateException("two passes are in flight; await the older before launching another");
        }
        if (!unawaited.isEmpty() && unawaited.peekLast().awaitingMasks) {
            throw new IllegalStateException("the last pass still waits for its token masks");
        }
        bindThread();
        try {
            Enqueued pass = enqueuePass(batch, masksLater.clone());
            unawaited.addLast(pass);
            return pass;
        } catch (CudaException e) {
            throw failed(e);
        }
    }

    @Override
    public boolean takesMasksLater() {
        return masksLater;
    }

    /** Collects (waits for) every pass launched and not yet awaited; their awaits then return at once. */
    private void finishUnawaited() {
        for (Enqueued pass : unawaited) {
            pass.collect();
        }
    }

    /**
     * A pass enqueued on the stream: its result once the device is done ({@link #collect}). One launched with masks
     * to come ({@link #launch(Batch, boolean[])}) has its choice half enqueued by {@link #masks}.
     */
    private final class Enqueued implements MaskedPass {
        private final List<SequenceChunk> chunks;
        private final boolean drawn;
        private final int slot;
        /** Per chunk, whether its mask comes later; null when none does. */
        private final boolean @Nullable [] later;
        /** The decode graph's padded batch size, or 0 for an eager pass. */
        private final int padded;
        private final int logitRows;
        /** Whether some chunk is an ARGMAX one (an eager pass reduces every row then). */
        private final boolean anyArgmax;
        /** Whether the choice half is still to be enqueued ({@link #masks}). */
        boolean awaitingMasks;
        private @Nullable ForwardResult result;

        private Enqueued(List<SequenceChunk> chunks, boolean drawn, int slot, boolean @Nullable [] later, int padded,
                         int logitRows, boolean anyArgmax) {
            this.chunks = chunks;
            this.drawn = drawn;
            this.slot = slot;
            this.later = later;
            this.padded = padded;
            this.logitRows = logitRows;
            this.anyArgmax = anyArgmax;
            this.awaitingMasks = later != null;
        }

        @Override
        public void masks(List<@Nullable Bitmask> masks) {
            if (!awaitingMasks) {
                throw new IllegalStateException(later == null ? "this pass was launched with its masks"
                        : "this pass's masks were given already");
            }
            if (masks.size() != chunks.size()) {
                throw new IllegalArgumentException(masks.size() + " masks for " + chunks.size() + " chunks");
            }
            for (int i = 0; i < masks.size(); i++) {
                if (masks.get(i) != null && !later[i]) {
                    throw new IllegalArgumentException("chunk " + i + " came with its own token mask");
                }
            }
            checkUsable();
            bindThread();
            try {
                enqueueChoice(this, masks);
                awaitingMasks = false;
            } catch (CudaException e) {
                throw failed(e);
            }
        }

        /** Waits for the pass and reads its result (once; later calls return it again). */
        ForwardResult collect() {
            if (awaitingMasks) {
                throw new IllegalStateException("the pass's token masks were not given: it chose no tokens");
            }
            if (result == null) {
                check(cudaEventSynchronize(done[slot]), "cudaEventSynchronize(pass)");
                result = outputs.collect(chunks, drawn, slot);
            }
            return result;
        }

        @Override
        public ForwardResult await() {
            if (unawaited.peekFirst() != this) {
                throw new IllegalStateException(unawaited.contains(this)
                        ? "passes are awaited in launch order" : "this pass was awaited already");
            }
            unawaited.removeFirst();
            try {
                return collect();
            } catch (CudaException e) {
                throw failed(e);
            }
        }
    }

    /**
     * Per chunk of {@code batch}, the ids row of the last enqueued pass whose token is the chunk's token
     * ({@link Batch#previousChunk}), laid out per row of the batch; null when no chunk chains.
     *
     * @throws IllegalArgumentException for a previous chunk whose token the last pass did not choose on the device
     */
    private int @Nullable [] chainedRows(Batch batch) {
        if (!batch.chainsTokens()) {
            return null;
        }
        if (!overlap) {
            throw new IllegalArgumentException("this CUDA runner does not overlap passes: no chunk can take its token "
                    + "from the previous pass");
        }
        List<SequenceChunk> chunks = batch.chunks();
        int[] rows = new int[batch.tokenCount()];
        java.util.Arrays.fill(rows, -1);
        int row = 0;
        for (int i = 0; i < chunks.size(); i++) {
            int p = batch.previousChunk(i);
            if (p >= 0) {
                if (p >= lastChosenRows.length || lastChosenRows[p] < 0) {
                    throw new IllegalArgumentException("chunk " + i + " takes the token of chunk " + p + " of the previous "
                            + "pass, which chose none on the device");
                }
                rows[row] = lastChosenRows[p];
            }
            row += chunks.get(i).length();
        }
        return rows;
    }

    /**
     * Stages and enqueues one pass, its copies back included, and records its end in {@link #done}; with
     * {@code later} (the chunks whose masks come after the launch), only its layers and LM head: {@link #enqueueChoice}
     * does the rest.
     */
    private Enqueued enqueuePass(Batch batch, boolean @Nullable [] later) {
        int[] chained = chainedRows(batch);
        // The pinned staging buffers are written below: the last pass's copies out of them must have run.
        check(cudaEventSynchronize(uploaded), "cudaEventSynchronize(uploaded)");
        List<SequenceChunk> chunks = batch.chunks();
        int tokens = batch.tokenCount();
        int seqs = chunks.size();
        int logitRows = 0;
        int stride = 1;
        boolean decode = true;
        for (SequenceChunk chunk : chunks) {
            logitRows += chunk.logitsRows();
            stride = Math.max(stride, kvSpec.blocksFor(chunk.endPosition()));
            decode &= chunk.length() == 1 && chunk.logitsRows() == 1;
        }
        // Decode passes (one sampled token per sequence) replay a graph captured for the batch size
        // padded to a power of two, after running eagerly once at that size (cuBLAS's first call of a
        // shape may load kernels, which a capture must not do). A pass with guided rows replays a graph of its
        // own, with mask_rows between the LM head and the argmax; its padding rows have no mask.
        boolean masked = MaskBuffers.anyMasked(chunks);
        int padded = decode && useGraphs && seqs <= MAX_GRAPH_BATCH
                ? Math.max(1, Integer.highestOneBit(seqs - 1) << 1) : 0;
        int rows = Math.max(tokens, padded);
        int outRows = Math.max(logitRows, padded);
        if (outputs.capacity() < outRows) {
            finishUnawaited(); // growing the logits replaces the pinned ids a pass in flight copies into
        }
        ensureCapacity(rows, Math.max(1, outRows), Math.max(seqs, padded), stride);
        planAttention(chunks, padded);
        inputs.write(chunks, stride, padded, kvSpec, plan, chained, stream);

        boolean anyArgmax = false;
        boolean anySample = false;
        for (SequenceChunk chunk : chunks) {
            anyArgmax |= chunk.logits() == SequenceChunk.LogitsMode.ARGMAX;
            anySample |= chunk.logits() == SequenceChunk.LogitsMode.SAMPLE;
        }
        boolean draw = anySample && deviceSampling;
        if (draw) {
            sampling.write(chunks, Math.max(logitRows, padded), outputs.capacity(), stream);
        }
        if (masked && later == null) {
            masks.write(chunks, Math.max(logitRows, padded), stream);
        }
        check(cudaEventRecord(uploaded, stream), "cudaEventRecord(uploaded)");
        if (chained != null) {
            kernels.args().ptr(inputs.tokens()).ptr(inputs.chained()).ptr(outputs.tokenIds).i32(tokens).i32(config.vocabSize())
                    .launch(chainFn, "chain_tokens", Math.ceilDiv(tokens, 256), 1, 256, stream);
        }
        if (hook != null) {
            hook.beforeLaunch(chunks, kernels, stream);
        }
        projections.gemvPass(decode);
        int splits = attentionKernels ? plan.splitCap() : 0;
        if (later != null) {
            // The layers and the LM head now; the masks, the argmax and the draws when the masks come (enqueueChoice).
            if (padded > 0) {
                CUgraphExec_st graph = graphs.replayable(GraphCache.Part.FORWARD, padded, false, false, splits,
                        () -> enqueue(padded, padded, false, false));
                if (graph != null) {
                    check(cudaGraphLaunch(graph, stream), "cudaGraphLaunch");
                } else {
                    enqueue(padded, padded, false, false);
                }
            } else {
                enqueue(tokens, logitRows, false, false);
            }
        } else if (padded > 0) {
            CUgraphExec_st graph = graphs.replayable(padded, draw, masked, splits, () -> enqueueDecode(padded, draw, masked));
            if (graph != null) {
                check(cudaGraphLaunch(graph, stream), "cudaGraphLaunch");
            } else {
                enqueueDecode(padded, draw, masked);
            }
        } else {
            enqueue(tokens, logitRows, anyArgmax, masked);
            if (draw) {
                enqueueSampling(logitRows);
            }
        }
        int slot = nextSlot;
        nextSlot ^= 1;
        var pass = new Enqueued(chunks, draw, slot, later, padded, logitRows, anyArgmax);
        if (later == null) {
            outputs.copyBack(chunks, anyArgmax || padded > 0, draw, slot, stream); // a decode graph reduces every row
            check(cudaEventRecord(done[slot], stream), "cudaEventRecord(pass)");
        }
        int[] chosen = new int[seqs];
        int row = 0;
        for (int i = 0; i < seqs; i++) {
            SequenceChunk chunk = chunks.get(i);
            chosen[i] = chunk.logitsRows() == 1 && LogitsBuffers.idOnly(chunk, draw) ? row : -1;
            row += chunk.logitsRows();
        }
        lastChosenRows = chosen;
        return pass;
    }

    /**
     * The second half of a pass launched with masks to come: the masks' upload ({@code later}: per chunk, a mask
     * given now, or null for its own or none), then {@code mask_rows}, {@code argmax_rows} and {@code sample_rows}
     * over the LM head's rows (a decode pass: as a graph of their own), the copies back, the pass's end event.
     */
    private void enqueueChoice(Enqueued pass, List<@Nullable Bitmask> later) {
        List<SequenceChunk> chunks = pass.chunks;
        boolean masked = MaskBuffers.anyMasked(chunks, later);
        int padded = pass.padded;
        boolean draw = pass.drawn;
        if (masked) {
            // The staging buffers' last copies ran: the pass before this one is done (the executor awaited it).
            check(cudaEventSynchronize(uploaded), "cudaEventSynchronize(uploaded)");
            masks.write(chunks, later, Math.max(pass.logitRows, padded), stream);
            check(cudaEventRecord(uploaded, stream), "cudaEventRecord(uploaded)");
        }
        boolean argmax = pass.anyArgmax || padded > 0; // a decode graph reduces every row
        if (padded > 0) {
            CUgraphExec_st graph = graphs.replayable(GraphCache.Part.CHOICE, padded, draw, masked, 0,
                    () -> enqueueChoose(padded, true, draw, masked));
            if (graph != null) {
                check(cudaGraphLaunch(graph, stream), "cudaGraphLaunch");
            } else {
                enqueueChoose(padded, true, draw, masked);
            }
        } else {
            enqueueChoose(pass.logitRows, argmax, draw, masked);
        }
        outputs.copyBack(chunks, argmax, draw, pass.slot, stream);
        check(cudaEventRecord(done[pass.slot], stream), "cudaEventRecord(pass)");
    }

    /** Over {@code rows} logits rows: the token masks when {@code masked}, the argmax when asked, the draws when asked. */
    private void enqueueChoose(int rows, boolean argmax, boolean draw, boolean masked) {
        int vocab = config.vocabSize();
        LogitsBuffers out = outputs;
        if (masked) {
            kernels.args().ptr(out.logits).i32(vocab).ptr(masks.words).i32(masks.wordsPerRow()).ptr(masks.maskOf)
                    .launch(maskFn, "mask_rows", rows, 1, 256, stream);
        }
        if (argmax) {
            kernels.args().ptr(out.logits).i32(vocab).ptr(out.tokenIds).launch(argmaxFn, "argmax_rows", rows, 1, 1024, stream);
        }
        if (draw) {
            enqueueSampling(rows);
        }
    }

    /** Sets the pass's {@link #plan} and grows the split decode's scratch to it. */
    private void planAttention(List<SequenceChunk> chunks, int padded) {
        Integer window = config.slidingWindow();
        plan = AttentionPlan.of(chunks, padded, attentionTcFn != null, window == null ? 0 : window, smallSplits,
                attentionFaFn != null ? AttentionPlan.FA_TILE_ROWS : AttentionPlan.TILE_ROWS);
        if (attentionKernels && plan.splitCap() > 1) {
            attentionScratch.ensure((long) plan.decodeRows().length * config.numHeads() * plan.splitCap()
                    * (config.headDim() + 2) * Float.BYTES);
        }
    }

    /** The per-step GPU times of the passes so far ({@code trtllm.cuda.profile=true}), or null when off. */
    @Nullable StepProfile profile() {
        return profile;
    }

    /** Ends the step {@code name} of the profile, when on. */
    private void mark(String name) {
        if (profile != null) {
            profile.mark(name);
        }
    }

    /** A decode pass of {@code batch} rows (padding included), its token masks, every row reduced, and its draws. */
    private void enqueueDecode(int batch, boolean draw, boolean masked) {
        enqueue(batch, batch, true, masked);
        if (draw) {
            enqueueSampling(batch);
        }
    }

    /**
     * Launches the pass over {@code tokens} rows (inputs already on the device) and the LM head over
     * {@code logitRows} rows, then the token masks of the guided rows when {@code masked} (written by
     * {@link MaskBuffers#write}), then the argmax of every logits row when asked.
     */
    private void enqueue(int tokens, int logitRows, boolean argmax, boolean masked) {
        ModelConfig c = config;
        ActivationBuffers a = activations;
        PassInputs in = inputs;
        int dim = c.hiddenSize();
        int qkvDim = c.qDim() + 2 * c.kvDim();
        int inter = c.intermediateSize();
        float scale = (float) (1.0 / Math.sqrt(c.headDim()));
        int headGroups = (c.numHeads() + 2 * c.numKvHeads() + 3) / 4;  // qkv_post: 4 warps, one head each

        // A TP rank: its vocabulary rows' lookups, and every partial sum completed over the ranks; the o and down
        // projections write x + partial on TP rank 0 and the partial alone on the others, so the sum is the new x.
        boolean lead = shard == null || shard.tpRank() == 0;
        int firstVocabRow = shard == null ? 0 : shard.firstVocabRow();
        if (profile != null) {
            // ≈ 30 ms at H100 clocks: the host enqueues the pass meanwhile (see StepProfile)
            kernels.args().i64(50_000_000L).launch(spinFn, "spin_wait", 1, 1, 1, stream);
            profile.begin();
        }
        if (shard == null || shard.firstStage()) {
            kernels.args().ptr(in.tokens()).ptr(weights.embedding).ptr(a.x).i32(firstVocabRow).i32(c.vocabSize())
                    .launch(embedFn, "embed", tokens, 1, 128, stream);
            sumOverRanks(a.x, (long) tokens * dim);
            mark("embed");
        } else {
            // The residual stream from the same TP rank of the previous stage (identical on every TP rank there).
            pipeline().receive(a.x, (long) tokens * dim, shard.stage() - 1, stream);
        }
        for (int l = 0; l < weights.layers(); l++) {
            CudaWeights.Layer w = weights.layer(l);
            if (projections.takesFp8(w.wqkv(), tokens)) {
                kernels.args().ptr(a.x).ptr(w.attnNorm()).ptr(a.q8).ptr(a.q8Scales)
                        .launch(rmsnormF8Fn, "rmsnorm_f8", tokens, 1, 256, stream);
                projections.gemmFp8(w.wqkv(), a.q8, a.q8Scales, a.qkv, tokens, false, a.qkv);
            } else {
                kernels.args().ptr(a.x).ptr(0).ptr(w.attnNorm()).ptr(a.xn).launch(rmsnormFn, "rmsnorm", tokens, 1, 256, stream);
                projections.gemm(w.wqkv(), a.xn, a.qkv, qkvDim, dim, tokens, false);
            }
            mark("rmsnorm + qkv proj");
            kernels.args().ptr(a.qkv).ptr(w.bqkv()).ptr(w.qNorm()).ptr(w.kNorm()).ptr(weights.invFreq).ptr(in.positions())
                    .ptr(in.slots()).ptr(kvCache.keys(l)).ptr(kvCache.values(l))
                    .launch(qkvPostFn, "qkv_post", tokens, headGroups, 128, stream);
            mark("qkv_post");
            attention(l, tokens, scale);
            mark("attention");
            if (projections.takesFp8(w.wo(), tokens)) {
                kernels.args().ptr(a.att).i32(c.qDim()).ptr(a.q8).ptr(a.q8Scales)
                        .launch(quantF8Fn, "quant_f8", tokens, 1, 256, stream);
                projections.gemmFp8(w.wo(), a.q8, a.q8Scales, a.x, tokens, lead, a.gateUp);
            } else {
                projections.gemm(w.wo(), a.att, a.x, dim, c.qDim(), tokens, lead);
            }
            if (w.bo() != 0 && lead) {
                kernels.args().ptr(a.x).ptr(w.bo()).launch(addBiasFn, "add_bias", tokens, 1, 256, stream);
            }
            sumOverRanks(a.x, (long) tokens * dim);
            mark("o proj");
            if (projections.takesFp8(w.wgateUp(), tokens)) {
                kernels.args().ptr(a.x).ptr(w.ffnNorm()).ptr(a.q8).ptr(a.q8Scales)
                        .launch(rmsnormF8Fn, "rmsnorm_f8", tokens, 1, 256, stream);
                boolean raw = projections.gemmFp8Deferred(w.wgateUp(), a.q8, a.q8Scales, a.gateUp, tokens);
                downFromGateUp(w.wdown(), tokens, lead, raw ? w.wgateUp().scales() : 0);
            } else {
                kernels.args().ptr(a.x).ptr(0).ptr(w.ffnNorm()).ptr(a.xn).launch(rmsnormFn, "rmsnorm", tokens, 1, 256, stream);
                gateUpSilu(w.wgateUp(), tokens);
                projections.gemm(w.wdown(), a.hidden, a.x, dim, inter, tokens, lead);
            }
            sumOverRanks(a.x, (long) tokens * dim);
            mark("rmsnorm + mlp");
        }
        if (shard != null && !shard.lastStage()) {
            pipeline().send(a.x, (long) tokens * dim, shard.stage() + 1, stream);
            return;
        }
        if (logitRows == 0) {
            return;
        }
        int vocab = c.vocabSize();
        LogitsBuffers out = outputs;
        kernels.args().ptr(a.x).ptr(in.logitsRows()).ptr(weights.finalNorm).ptr(out.normed)
                .launch(rmsnormFn, "rmsnorm", logitRows, 1, 256, stream);
        mark("final rmsnorm");
        projections.gemm(weights.lmHead, out.normed, out.logits, vocab, dim, logitRows, false);
        mark("lm head");
        if (masked) {
            // Guided rows: banned tokens' logits become -inf in place, so the argmax, the device draw, and a
            // host draw of the copied row (deviceSampling=false) all choose among the allowed tokens only.
            kernels.args().ptr(out.logits).i32(vocab).ptr(masks.words).i32(masks.wordsPerRow()).ptr(masks.maskOf)
                    .launch(maskFn, "mask_rows", logitRows, 1, 256, stream);
            mark("mask");
        }
        if (argmax) {
            kernels.args().ptr(out.logits).i32(vocab).ptr(out.tokenIds).launch(argmaxFn, "argmax_rows", logitRows, 1, 1024, stream);
            mark("argmax");
        }
    }

    /**
     * {@code att} of layer {@code l} over {@code tokens} rows: the row kernel for every row
     * ({@code trtllm.cuda.attention=rows}), else the pass's {@link #plan}: tensor-core tiles for its
     * prefill chunks, the decode kernel (split over long contexts, then merged) for its other rows.
     */
    private void attention(int l, int tokens, float scale) {
        ModelConfig c = config;
        ActivationBuffers a = activations;
        PassInputs in = inputs;
        if (!attentionKernels) {
            kernels.args().ptr(a.qkv).ptr(kvCache.keys(l)).ptr(kvCache.values(l)).ptr(in.positions()).ptr(in.rowSequence())
                    .ptr(in.tables()).ptr(in.stride()).i32(kvSpec.blockSize()).f32(scale).ptr(a.att)
                    .launch(attentionFn, "attention", tokens, c.numHeads(), 256, stream);
            return;
        }
        if (plan.tileCount() > 0) {
            kernels.args().ptr(a.qkv).ptr(kvCache.keys(l)).ptr(kvCache.values(l)).ptr(in.tiles()).ptr(in.tables())
                    .ptr(in.stride()).i32(kvSpec.blockSize()).f32(scale).ptr(a.att);
            if (attentionFaFn != null) {
                kernels.launch(attentionFaFn, "attention_fa", AttentionPlan.faBlocks(plan.tileCount(), c.numHeads()), 1,
                        AttentionPlan.FA_THREADS, stream);
            } else {
                kernels.launch(attentionTcFn, "attention_tc", plan.tileCount(), c.numHeads(), 128, stream);
            }
        }
        int decodeRows = plan.decodeRows().length;
        if (decodeRows > 0) {
            kernels.args().ptr(a.qkv).ptr(kvCache.keys(l)).ptr(kvCache.values(l)).ptr(in.positions()).ptr(in.rowSequence())
                    .ptr(in.decodeRows()).ptr(in.tables()).ptr(in.stride()).i32(kvSpec.blockSize()).f32(scale)
                    .ptr(attentionScratch.address()).ptr(a.att).i32(plan.splitKeys())
                    .launch(attentionDecodeFn, "attention_decode", decodeRows, c.numHeads() / decodeHeadsPerBlock,
                            plan.splitCap(), 256, stream);
            if (plan.splitCap() > 1) {
                kernels.args().ptr(in.positions()).ptr(in.decodeRows()).ptr(attentionScratch.address()).i32(plan.splitCap())
                        .ptr(a.att).i32(plan.splitKeys()).launch(attentionReduceFn, "attention_reduce", decodeRows, c.numHeads(), 128, stream);
            }
        }
    }

    /** A TP rank's all-reduce of {@code floats} floats at {@code buffer}; nothing for the whole model or TP 1. */
    private void sumOverRanks(long buffer, long floats) {
        if (tpExchange != null) {
            tpExchange.allReduceSum(buffer, floats, stream);
        }
    }

    private DeviceExchange pipeline() {
        if (ppExchange == null) {
            throw new IllegalStateException("no pipeline exchange for " + shard);
        }
        return ppExchange;
    }

    /** How this rank exchanges with the others ({@code TP NCCL, PP host-staged}), or "" for the whole model. */
    String exchangePaths() {
        return (tpExchange == null ? "" : "TP " + tpExchange.path()) + (tpExchange != null && ppExchange != null ? ", " : "")
                + (ppExchange == null ? "" : "PP " + ppExchange.path()) + (rankGraphs ? ", decode passes as CUDA graphs" : "");
    }

    /**
     * A rank's pass over {@code batch} (one micro-batch, checked against the whole model by the rank group): its
     * stage's layers with their sums over the TP ranks, then on the last stage this rank's LM head rows. Returns
     * its logits of the rows that need them, {@code (rows, vocabRows)} on the host, for
     * {@link io.trtllm.runtime.VocabParallelHead}; null on the other stages, once the next stage has the
     * activations. Device errors make the runner unusable as in {@link #forward}.
     */
    float @Nullable [] passLocal(Batch batch) {
        if (shard == null) {
            throw new IllegalStateException("passLocal is a rank's pass");
        }
        checkUsable();
        bindThread();
        try {
            List<SequenceChunk> chunks = batch.chunks();
            int tokens = batch.tokenCount();
            int logitRows = 0;
            int stride = 1;
            boolean decode = true;
            for (SequenceChunk chunk : chunks) {
                logitRows += chunk.logitsRows();
                stride = Math.max(stride, kvSpec.blocksFor(chunk.endPosition()));
                decode &= chunk.length() == 1 && chunk.logitsRows() == 1;
            }
            // Decode passes of a rank whose sums go through NCCL replay a graph per padded batch size, as run() does.
            int seqs = chunks.size();
            int padded = decode && rankGraphs && seqs <= MAX_GRAPH_BATCH ? Math.max(1, Integer.highestOneBit(seqs - 1) << 1) : 0;
            ensureCapacity(Math.max(tokens, padded), Math.max(1, Math.max(logitRows, padded)), Math.max(seqs, padded), stride);
            planAttention(chunks, padded);
            inputs.write(chunks, stride, padded, kvSpec, plan, null, stream);
            if (hook != null) {
                hook.beforeLaunch(chunks, kernels, stream);
            }
            projections.gemvPass(decode);
            boolean last = shard.lastStage();
            if (padded > 0) {
                CUgraphExec_st graph = graphs.replayable(padded, false, false, attentionKernels ? plan.splitCap() : 0,
                        () -> enqueue(padded, padded, false, false));
                if (graph != null) {
                    check(cudaGraphLaunch(graph, stream), "cudaGraphLaunch");
                } else {
                    enqueue(padded, padded, false, false);
                }
            } else {
                enqueue(tokens, last ? logitRows : 0, false, false);
            }
            if (!last) {
                // The send was waited for (NCCL) or copied (host-staged); drain what else the pass queued.
                Cuda.sync(stream);
                return null;
            }
            return outputs.copyLogits(logitRows, stream);
        } catch (CudaException e) {
            throw failed(e);
        }
    }

    /**
     * {@code hidden = bf16(silu(xn·Wgᵀ) * xn·Wuᵀ)} of {@code rows} rows, {@code wGateUp = [Wg; Wu]}: one
     * fused GEMV launch for few rows, else the gate|up GEMM into {@code gateUp} and silu_mul.
     */
    private void gateUpSilu(DeviceMatrix wGateUp, int rows) {
        int dim = config.hiddenSize();
        int inter = config.intermediateSize();
        ActivationBuffers a = activations;
        if (!projections.swiglu(wGateUp, a.xn, a.hidden, inter, dim, rows)) {
            projections.gemm(wGateUp, a.xn, a.gateUp, 2 * inter, dim, rows, false);
            kernels.args().ptr(a.gateUp).ptr(a.hidden).launch(siluMulFn, "silu_mul", rows, 1, 256, stream);
        }
    }

    /**
     * {@code x += silu(gate) * up · Wdᵀ} from the gate|up GEMM's output in {@code gateUp}: quantized to FP8 by
     * {@code silu_mul_f8} for an FP8 GEMM (whose raw output may reuse {@code gateUp}, read by then), else
     * through {@code silu_mul} and {@link Projections#gemm}. {@code gateUpScales} non-zero: {@code gateUp} holds
     * the FP8 gate|up GEMM's unit-scale product, to be scaled by {@code a.q8Scales} (still the gate|up input's
     * per-token scales) and these per-channel ones ({@code silu_mul_f8_raw}).
     */
    private void downFromGateUp(DeviceMatrix wDown, int rows, boolean accumulate, long gateUpScales) {
        ActivationBuffers a = activations;
        int dim = config.hiddenSize();
        int inter = config.intermediateSize();
        if (projections.takesFp8(wDown, rows)) {
            if (gateUpScales != 0) {
                kernels.args().ptr(a.gateUp).ptr(a.q8Scales).ptr(gateUpScales).ptr(a.q8).ptr(a.q8Scales)
                        .launch(siluMulF8RawFn, "silu_mul_f8_raw", rows, 1, 256, stream);
            } else {
                kernels.args().ptr(a.gateUp).ptr(a.q8).ptr(a.q8Scales).launch(siluMulF8Fn, "silu_mul_f8", rows, 1, 256, stream);
            }
            projections.gemmFp8(wDown, a.q8, a.q8Scales, a.x, rows, accumulate, a.gateUp);
        } else {
            kernels.args().ptr(a.gateUp).ptr(a.hidden).launch(siluMulFn, "silu_mul", rows, 1, 256, stream);
            projections.gemm(wDown, a.hidden, a.x, dim, inter, rows, accumulate);
        }
    }

    /** Draws a token for every logits row whose parameters ask for one (see {@link SamplingBuffers#write}), into the ids. */
    private void enqueueSampling(int logitRows) {
        kernels.args().ptr(outputs.logits).i32(config.vocabSize()).ptr(sampling.params).ptr(outputs.tokenIds)
                .launch(sampleFn, "sample_rows", logitRows, 1, SAMPLE_THREADS, stream);
        mark("sample");
    }

    /**
     * Frees everything: graphs, the cuBLAS handle, the module, each part's memory (and whatever a failed
     * construction or growth left behind), the stream. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        cudaSetDevice(device == null ? 0 : device.ordinal());
        if (!stream.isNull()) {
            cudaStreamSynchronize(stream);
        }
        graphs.close();
        unawaited.clear();
        if (!uploaded.isNull()) {
            cudaEventDestroy(uploaded);
        }
        for (CUevent_st event : done) {
            if (!event.isNull()) {
                cudaEventDestroy(event);
            }
        }
        if (profile != null) {
            profile.close();
        }
        if (projections != null) {
            projections.close();
        }
        if (kernels != null) {
            kernels.close();
        }
        if (kvCache != null) {
            kvCache.close();
        }
        if (weights != null) {
            weights.close();
        }
        if (tpExchange != null) {
            tpExchange.close();
        }
        if (ppExchange != null) {
            ppExchange.close();
        }
        sampling.close();
        masks.close();
        attentionScratch.close();
        outputs.close();
        inputs.close();
        activations.close();
        memory.close();
        if (!stream.isNull()) {
            cudaStreamDestroy(stream);
        }
    }
}
