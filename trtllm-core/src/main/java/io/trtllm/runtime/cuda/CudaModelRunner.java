package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static io.trtllm.runtime.cuda.Cuda.checkBlas;
import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32F;
import static org.bytedeco.cuda.global.cublas.CUBLAS_GEMM_DEFAULT;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.cublasCreate_v2;
import static org.bytedeco.cuda.global.cublas.cublasDestroy_v2;
import static org.bytedeco.cuda.global.cublas.cublasGemmEx;
import static org.bytedeco.cuda.global.cublas.cublasSetStream_v2;
import static org.bytedeco.cuda.global.cublas.cublasSetWorkspace_v2;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16BF;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16F;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaGetLastError;
import static org.bytedeco.cuda.global.cudart.cudaGraphDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphExecDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphInstantiate;
import static org.bytedeco.cuda.global.cudart.cudaGraphLaunch;
import static org.bytedeco.cuda.global.cudart.cudaStreamBeginCapture;
import static org.bytedeco.cuda.global.cudart.cudaStreamCaptureModeThreadLocal;
import static org.bytedeco.cuda.global.cudart.cudaStreamEndCapture;
import static org.bytedeco.cuda.global.cudart.cudaFreeHost;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMallocHost;
import static org.bytedeco.cuda.global.cudart.cudaMemGetInfo;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;

import io.trtllm.engine.DTypeConversion;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.RopeScaling;
import io.trtllm.model.Tensor;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSizer;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.TokenSampler;
import io.trtllm.runtime.TokenSampling;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.SizeTPointer;
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
 *   att = softmax(q·Kᵀ/√d, causal, window)·V over the block table         attention    (T, qDim) bf16
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
 * comparison of the benchmarks); {@code trtllm.cuda.test.faultOnToken=ID}, a test hook, makes every pass
 * whose tokens include ID launch a kernel that writes to an unmapped address first (a real illegal
 * memory access, which poisons the CUDA context of the whole process).
 */
final class CudaModelRunner implements ModelRunner {
    private static final Logger LOG = LoggerFactory.getLogger(CudaModelRunner.class);
    private static final long WORKSPACE_BYTES = 32L << 20;
    /** Device memory kept free beyond the KV cache for activations of large passes and cuBLAS. */
    private static final long HEADROOM_BYTES = 1L << 30;
    private static final int MIN_CAPACITY = 64;
    /** Largest decode batch replayed as a CUDA graph (padded to a power of two); larger ones run eagerly. */
    private static final int MAX_GRAPH_BATCH = 256;
    /** {@code sizeof(SampleParams)} in kernels.cu. */
    private static final int SAMPLE_PARAMS_BYTES = 32;
    private static final int SAMPLE_THREADS = 1024;

    /** One decoder layer's device buffers (addresses; 0 = absent). */
    private record Layer(long attnNorm, long wqkv, long bqkv, long qNorm, long kNorm, long wo, long bo,
                         long ffnNorm, long wgateUp, long wdown) {
    }

    private final ModelConfig config;
    private final CudaDevice device;
    /** BF16 or F16: the weights, the GEMMs' activation inputs and the KV cache. */
    private final DType weightType;
    private final KvCacheSpec kvSpec;
    /** Device allocations of this runner: address → bytes. */
    private final Map<Long, Long> allocations = new HashMap<>();
    /** Their total, read by metrics threads. */
    private volatile long deviceBytes;
    private final CUstream_st stream = new CUstream_st();
    private final cublasContext blas = new cublasContext();
    private final KernelModule kernels;
    private final CUfunc_st embedFn;
    private final CUfunc_st rmsnormFn;
    private final CUfunc_st addBiasFn;
    private final CUfunc_st qkvPostFn;
    private final CUfunc_st attentionFn;
    private final CUfunc_st siluMulFn;
    private final CUfunc_st argmaxFn;
    /** The projections of passes of few rows; null when turned off ({@code trtllm.cuda.gemv=false}). */
    private final @Nullable Gemv gemv;
    /**
     * Whether the pass being enqueued may use {@link #gemv}: passes whose every chunk is one token with
     * one logits row (decode). A prompt's rows go through cuBLAS whatever their number, so that a prompt
     * alone and a prompt batched with others are computed by the same kernels; decode rows are computed
     * the same by the GEMV at any row count up to its limit. (A one-token chunk of a prompt — a one-token
     * prompt, or the last token after a cached prefix — looks like decode and takes the GEMV when its pass
     * is all such chunks.)
     */
    private boolean gemvPass;
    private final CUfunc_st sampleFn;
    /** The test hook's kernel and token (-1: off; then the hook costs one comparison per pass). */
    private final @Nullable CUfunc_st faultFn;
    private final int faultToken;
    private final FloatPointer one = new FloatPointer(1f);
    private final FloatPointer zero = new FloatPointer(0f);

    private final long embedding;
    private final long lmHead;
    private final long finalNorm;
    private final long invFreq;
    private final Layer[] layers;
    /** Per layer: keys and values, {@code [block][slot][kvHead][headDim]} bf16. */
    private final long[] keyCache;
    private final long[] valueCache;

    // Activations and per-pass inputs, grown on demand (a pass allocates nothing otherwise).
    private int capacity;
    private long x;
    private long xn;
    private long qkv;
    private long att;
    private long gateUp;
    private long hidden;
    private int logitsCapacity;
    private long logitsNormed;
    private long logits;
    private long tokenIds;
    private MemorySegment hostLogits = MemorySegment.NULL;
    private MemorySegment hostTokenIds = MemorySegment.NULL;
    private long metaCapacity;
    private long meta;
    private MemorySegment hostMeta = MemorySegment.NULL;
    /** Per logits row, the {@code SampleParams} of kernels.cu (32 bytes), as many rows as the logits hold. */
    private int sampleCapacity;
    private long sampleParams;
    private MemorySegment hostSampleParams = MemorySegment.NULL;
    private final boolean deviceSampling;
    /** Draws of SAMPLE rows on the host, when device sampling is off. */
    private final TokenSampler hostSampler = new TokenSampler();
    /** Logits rows copied to the host so far (SAMPLE and ARGMAX rows copy none while drawn on the device). */
    private long logitsRowsCopied;

    /** Captured decode passes by {@link #graphKey}, and how often each ran eagerly. */
    private final Map<Integer, CUgraphExec_st> graphs = new HashMap<>();
    private final Map<Integer, Integer> eagerRuns = new HashMap<>();
    private final boolean useGraphs;

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
        long start = System.nanoTime();
        this.config = config;
        if (weightType != DType.BF16 && weightType != DType.F16) {
            throw new IllegalArgumentException("the CUDA runner's weight type is BF16 or F16, got " + weightType);
        }
        this.weightType = weightType;
        this.useGraphs = !"false".equals(System.getProperty("trtllm.cuda.graphs"));
        this.deviceSampling = !"false".equals(System.getProperty("trtllm.cuda.deviceSampling"));
        this.faultToken = Integer.getInteger("trtllm.cuda.test.faultOnToken", -1);
        check(cudaSetDevice(ordinal), "cudaSetDevice");
        boundThread = Thread.currentThread();
        this.device = CudaDevice.query(ordinal);
        boolean ok = false;
        try {
            check(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
            checkBlas(cublasCreate_v2(blas), "cublasCreate");
            checkBlas(cublasSetStream_v2(blas, stream), "cublasSetStream");
            checkBlas(cublasSetWorkspace_v2(blas, at(alloc(WORKSPACE_BYTES, "the cuBLAS workspace")), WORKSPACE_BYTES),
                    "cublasSetWorkspace");
            this.kernels = KernelModule.load(device.smArch(), defines(config, weightType), precompiled);
            this.embedFn = kernels.function("embed");
            this.rmsnormFn = kernels.function("rmsnorm");
            this.addBiasFn = kernels.function("add_bias");
            this.qkvPostFn = kernels.function("qkv_post");
            this.attentionFn = kernels.function("attention");
            this.siluMulFn = kernels.function("silu_mul");
            this.argmaxFn = kernels.function("argmax_rows");
            this.gemv = Gemv.enabled() ? new Gemv(kernels) : null;
            this.sampleFn = kernels.function("sample_rows");
            this.faultFn = faultToken >= 0 ? kernels.function("fault") : null;
            if (faultToken >= 0) {
                LOG.warn("Test hook on: a pass with token {} will write to an unmapped device address", faultToken);
            }

            int dim = config.hiddenSize();
            this.embedding = uploadMatrix(weights, List.of("model.embed_tokens.weight"), config.vocabSize(), dim);
            this.lmHead = config.tieWordEmbeddings() ? embedding
                    : uploadMatrix(weights, List.of("lm_head.weight"), config.vocabSize(), dim);
            this.finalNorm = uploadVector(weights, "model.norm.weight", dim);
            this.invFreq = uploadFloats(RopeScaling.inverseFrequencies(config.headDim(), config.ropeTheta(),
                    config.ropeScaling()));
            this.layers = new Layer[config.numLayers()];
            for (int l = 0; l < layers.length; l++) {
                layers[l] = uploadLayer(weights, l);
            }
            ensureCapacity(MIN_CAPACITY, 1, 1024);

            long perToken = 2L * config.numLayers() * config.kvDim() * Short.BYTES;
            this.kvSpec = kvSizer.size(Math.max(0, freeBytes() - HEADROOM_BYTES), perToken);
            // One block more than the executor's: padding rows of graph replays write there.
            long layerBytes = (kvSpec.capacityTokens() + kvSpec.blockSize()) * config.kvDim() * Short.BYTES;
            this.keyCache = new long[layers.length];
            this.valueCache = new long[layers.length];
            String kv = "the KV cache (" + kvSpec.numBlocks() + " blocks of " + kvSpec.blockSize() + " tokens, "
                    + 2 * layers.length * layerBytes + " bytes in all)";
            for (int l = 0; l < layers.length; l++) {
                keyCache[l] = alloc(layerBytes, kv + ", keys of layer " + l);
                valueCache[l] = alloc(layerBytes, kv + ", values of layer " + l);
            }
            ok = true;
            LOG.debug("CUDA runner on {}: {} layers, KV cache {} blocks × {} tokens ({} MiB), ready in {} ms", device,
                    layers.length, kvSpec.numBlocks(), kvSpec.blockSize(), 2 * layers.length * layerBytes >> 20,
                    (System.nanoTime() - start) / 1_000_000);
        } finally {
            if (!ok) {
                close();
            }
        }
    }

    /** The model's shape and the runner's 16-bit type ({@code weightType}) as compile-time constants of the kernels. */
    static List<String> defines(ModelConfig c, DType weightType) {
        if (c.headDim() % 2 != 0 || c.headDim() > 256) {
            throw new IllegalArgumentException("the CUDA backend needs an even head_dim <= 256, got " + c.headDim());
        }
        Integer window = c.slidingWindow();
        boolean f16 = weightType == DType.F16;
        return List.of("DIM=" + c.hiddenSize(), "HEAD_DIM=" + c.headDim(), "N_HEADS=" + c.numHeads(),
                "N_KV_HEADS=" + c.numKvHeads(), "INTER=" + c.intermediateSize(),
                "EPS=" + String.format(Locale.ROOT, "%.9ef", c.rmsNormEps()),
                "WINDOW=" + (window == null ? 0 : window), "HAS_QKV_BIAS=" + (c.attentionBias() ? 1 : 0),
                "HAS_QK_NORM=" + (c.qkNorm() ? 1 : 0), f16 ? "WEIGHT_F16=1" : "WEIGHT_F16=0",
                f16 ? "KV_F16=1" : "KV_BF16=1");
    }

    /** Where the kernels came from: the engine's cubin, or NVRTC at load. */
    String kernelOrigin() {
        return kernels.origin();
    }

    // ---- upload ----

    private Layer uploadLayer(Checkpoint w, int l) {
        ModelConfig c = config;
        String p = "model.layers." + l + ".";
        int dim = c.hiddenSize();
        int qkvDim = c.qDim() + 2 * c.kvDim();
        long bqkv = 0;
        if (c.attentionBias()) {
            float[] b = new float[qkvDim];
            readVector(w.tensor(p + "self_attn.q_proj.bias"), b, 0, c.qDim());
            readVector(w.tensor(p + "self_attn.k_proj.bias"), b, c.qDim(), c.kvDim());
            readVector(w.tensor(p + "self_attn.v_proj.bias"), b, c.qDim() + c.kvDim(), c.kvDim());
            bqkv = uploadFloats(b);
        }
        return new Layer(
                uploadVector(w, p + "input_layernorm.weight", dim),
                uploadMatrix(w, List.of(p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                        p + "self_attn.v_proj.weight"), qkvDim, dim),
                bqkv,
                c.qkNorm() ? uploadVector(w, p + "self_attn.q_norm.weight", c.headDim()) : 0,
                c.qkNorm() ? uploadVector(w, p + "self_attn.k_norm.weight", c.headDim()) : 0,
                uploadMatrix(w, List.of(p + "self_attn.o_proj.weight"), dim, c.qDim()),
                c.outputBias() ? uploadVector(w, p + "self_attn.o_proj.bias", dim) : 0,
                uploadVector(w, p + "post_attention_layernorm.weight", dim),
                uploadMatrix(w, List.of(p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"), 2 * c.intermediateSize(), dim),
                uploadMatrix(w, List.of(p + "mlp.down_proj.weight"), dim, c.intermediateSize()));
    }

    /** Row-major matrices stacked on their rows ({@code rows × cols} in all), in the weight type on the device. */
    private long uploadMatrix(Checkpoint w, List<String> names, long rows, long cols) {
        long dst = alloc(rows * cols * Short.BYTES);
        long offset = 0;
        for (String name : names) {
            Tensor t = w.tensor(name);
            long bytes = t.numel() * Short.BYTES;
            if (t.rank() != 2 || t.dim(1) != cols || offset + bytes > rows * cols * Short.BYTES) {
                throw new ModelFormatException("tensor " + name + " has shape " + java.util.Arrays.toString(t.shape())
                        + "; expected [*, " + cols + "] within " + rows + " rows");
            }
            if (t.dtype() == weightType && t.data().isNative()) {
                check(cudaMemcpy(at(dst + offset), at(t.data().address()), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
            } else {
                try (Arena staging = Arena.ofConfined()) {
                    MemorySegment converted = staging.allocate(bytes, 64);
                    if (!t.dtype().isFloatingPoint()) {
                        throw new ModelFormatException("tensor " + t.name() + " holds integers (" + t.dtype()
                                + "): the CUDA backend takes floating-point weights (quantized engines are for the CPU backend)");
                    }
                    DTypeConversion.convert(t, weightType, converted);
                    check(cudaMemcpy(at(dst + offset), at(converted.address()), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
                }
            }
            offset += bytes;
        }
        if (offset != rows * cols * Short.BYTES) {
            throw new ModelFormatException("tensors " + names + " hold " + offset / Short.BYTES + " elements; expected "
                    + rows + " × " + cols);
        }
        return dst;
    }

    private long uploadVector(Checkpoint w, String name, int n) {
        float[] v = new float[n];
        readVector(w.tensor(name), v, 0, n);
        return uploadFloats(v);
    }

    private static void readVector(Tensor t, float[] dst, int offset, int n) {
        if (t.numel() != n) {
            throw new ModelFormatException("tensor " + t.name() + " has " + t.numel() + " elements; expected " + n);
        }
        MemorySegment s = t.data();
        for (int i = 0; i < n; i++) {
            dst[offset + i] = switch (t.dtype()) {
                case F32 -> s.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
                case F16 -> Float.float16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
                case BF16 -> Float.intBitsToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i) << 16);
                case I8, U8 -> throw new ModelFormatException("tensor " + t.name() + " holds integers (" + t.dtype()
                        + "): the CUDA backend takes floating-point weights (quantized engines are for the CPU backend)");
            };
        }
    }

    private long uploadFloats(float[] v) {
        long dst = alloc((long) v.length * Float.BYTES);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocateFrom(ValueLayout.JAVA_FLOAT, v);
            check(cudaMemcpy(at(dst), at(host.address()), host.byteSize(), cudaMemcpyHostToDevice), "cudaMemcpy");
        }
        return dst;
    }

    // ---- device memory ----

    private long alloc(long bytes) {
        return alloc(bytes, "weights");
    }

    /**
     * {@code bytes} of device memory for {@code what}.
     *
     * @throws CudaException when the device has too little free (its message names what, the bytes asked
     *                       for and the bytes free), or on another CUDA error
     */
    private long alloc(long bytes, String what) {
        Pointer p = new Pointer();
        long size = Math.max(bytes, 256);
        int status = cudaMalloc(p, size);
        if (status == Cuda.OUT_OF_MEMORY) {
            cudaGetLastError(); // not sticky: clear it so that later calls do not report it
            long available = -1;
            long total = -1;
            try (SizeTPointer f = new SizeTPointer(1); SizeTPointer t = new SizeTPointer(1)) {
                if (cudaMemGetInfo(f, t) == 0) {
                    available = f.get();
                    total = t.get();
                }
            }
            throw new CudaException(String.format(Locale.ROOT,
                    "out of device memory: %s asked for %,d bytes (%,d MiB); %,d bytes (%,d MiB) are free of %,d MiB on %s "
                            + "(this runner holds %,d MiB)", what, size, size >> 20, available, available >> 20, total >> 20, device,
                    deviceBytes >> 20), status, true);
        }
        check(status, "cudaMalloc(" + bytes + " bytes for " + what + ")");
        allocations.put(p.address(), size);
        deviceBytes += size;
        return p.address();
    }

    private void free(long address) {
        Long size = address != 0 ? allocations.remove(address) : null;
        if (size != null) {
            cudaFree(at(address));
            deviceBytes -= size;
        }
    }

    private static MemorySegment allocHost(long bytes) {
        Pointer p = new Pointer();
        check(cudaMallocHost(p, bytes), "cudaMallocHost(" + bytes + " bytes)");
        return MemorySegment.ofAddress(p.address()).reinterpret(bytes);
    }

    private static void freeHost(MemorySegment s) {
        if (s.address() != 0) {
            cudaFreeHost(at(s.address()));
        }
    }

    @Override
    public long deviceMemoryBytes() {
        return deviceBytes;
    }

    static long freeBytes() {
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
            check(cudaMemGetInfo(free, total), "cudaMemGetInfo");
            return free.get();
        }
    }

    /** Grows activations to {@code tokens} rows, logits to {@code logitRows} rows, per-pass inputs to {@code metaInts}. */
    private void ensureCapacity(int tokens, int logitRows, long metaInts) {
        ModelConfig c = config;
        if (tokens > capacity || logitRows > logitsCapacity || metaInts > metaCapacity) {
            dropGraphs();  // they hold the addresses of the buffers replaced below
        }
        if (tokens > capacity) {
            int cap = Math.max(MIN_CAPACITY, Integer.highestOneBit(tokens - 1) << 1);
            sync();
            for (long a : new long[] {x, xn, qkv, att, gateUp, hidden}) {
                free(a);
            }
            // Until the new buffers exist, nothing is held: an allocation that fails (out of memory, which
            // leaves the runner usable) makes the next pass allocate again instead of using freed memory.
            capacity = 0;
            x = xn = qkv = att = gateUp = hidden = 0;
            String what = "activations of " + cap + " rows";
            x = alloc((long) cap * c.hiddenSize() * Float.BYTES, what);
            xn = alloc((long) cap * c.hiddenSize() * Short.BYTES, what);
            qkv = alloc((long) cap * (c.qDim() + 2 * c.kvDim()) * Float.BYTES, what);
            att = alloc((long) cap * c.qDim() * Short.BYTES, what);
            gateUp = alloc((long) cap * 2 * c.intermediateSize() * Float.BYTES, what);
            hidden = alloc((long) cap * c.intermediateSize() * Short.BYTES, what);
            capacity = cap;
        }
        if (logitRows > logitsCapacity) {
            int cap = Math.max(MIN_CAPACITY, Integer.highestOneBit(logitRows - 1) << 1);
            sync();
            free(logitsNormed);
            free(logits);
            free(tokenIds);
            freeHost(hostLogits);
            freeHost(hostTokenIds);
            hostLogits = MemorySegment.NULL;
            hostTokenIds = MemorySegment.NULL;
            logitsCapacity = 0; // as for the activations: nothing held until the new buffers exist
            logitsNormed = logits = tokenIds = 0;
            String what = "logits of " + cap + " rows";
            logitsNormed = alloc((long) cap * c.hiddenSize() * Short.BYTES, what);
            logits = alloc((long) cap * c.vocabSize() * Float.BYTES, what);
            tokenIds = alloc((long) cap * Integer.BYTES, what);
            hostLogits = allocHost((long) cap * c.vocabSize() * Float.BYTES);
            hostTokenIds = allocHost((long) cap * Integer.BYTES);
            logitsCapacity = cap;
        }
        if (metaInts > metaCapacity) {
            long cap = Math.max(1024, Long.highestOneBit(metaInts - 1) << 1);
            sync();
            free(meta);
            freeHost(hostMeta);
            hostMeta = MemorySegment.NULL;
            metaCapacity = 0;
            meta = 0;
            meta = alloc(cap * Integer.BYTES, "per-pass inputs");
            hostMeta = allocHost(cap * Integer.BYTES);
            metaCapacity = cap;
        }
    }

    /** Grows the sampling parameters to as many rows as the logits hold. */
    private void ensureSamplingCapacity() {
        if (sampleCapacity >= logitsCapacity) {
            return;
        }
        dropGraphs(); // those that draw hold the address of the buffer replaced below
        sync();
        free(sampleParams);
        freeHost(hostSampleParams);
        hostSampleParams = MemorySegment.NULL;
        sampleParams = alloc((long) logitsCapacity * SAMPLE_PARAMS_BYTES, "sampling parameters");
        hostSampleParams = allocHost((long) logitsCapacity * SAMPLE_PARAMS_BYTES);
        sampleCapacity = logitsCapacity;
    }

    // ---- the pass ----

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
        return device + ", " + weightType + " weights and KV cache, cuBLAS + kernels " + kernels.origin()
                + (gemv != null ? " (GEMV up to " + Gemv.MAX_ROWS + " rows)" : "");
    }

    @Override
    public float[][] forward(Batch batch) {
        if (closed) {
            throw new IllegalStateException("the CUDA runner is closed");
        }
        if (failure != null) {
            throw new IllegalStateException("the CUDA backend is unusable after an earlier device error: "
                    + failure.getMessage(), failure);
        }
        batch.checkAgainst(config, kvSpec);
        bindThread();
        try {
            return run(batch);
        } catch (CudaException e) {
            if (e.outOfMemory()) {
                throw e;
            }
            CudaException error = withDeviceError(e);
            failure = error;
            LOG.error("The CUDA backend is unusable from now on: {}", error.getMessage());
            throw error;
        }
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

    /** Logits rows copied to the host since construction: 0 while every row is an argmax or a device draw. */
    long logitsRowsCopied() {
        return logitsRowsCopied;
    }

    private void bindThread() {
        if (boundThread != Thread.currentThread()) {
            check(cudaSetDevice(device.ordinal()), "cudaSetDevice");
            boundThread = Thread.currentThread();
        }
    }

    /**
     * Offsets (in ints) of the per-pass inputs, fixed by the buffers' capacities so that a captured
     * graph finds them where it was recorded: tokens | positions | KV slots | row -> sequence |
     * logits rows | block-table stride | block tables (sequence-major, stride entries each).
     */
    private long posOff() {
        return capacity;
    }

    private long slotOff() {
        return 2L * capacity;
    }

    private long seqOff() {
        return 3L * capacity;
    }

    private long rowsOff() {
        return 4L * capacity;
    }

    private long strideOff() {
        return 4L * capacity + logitsCapacity;
    }

    private long tableOff() {
        return strideOff() + 1;
    }

    private float[][] run(Batch batch) {
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
        // shape may load kernels, which a capture must not do).
        int padded = decode && useGraphs && seqs <= MAX_GRAPH_BATCH ? Math.max(1, Integer.highestOneBit(seqs - 1) << 1) : 0;
        int rows = Math.max(tokens, padded);
        int outRows = Math.max(logitRows, padded);
        ensureCapacity(rows, Math.max(1, outRows), 0);
        ensureCapacity(rows, Math.max(1, outRows), tableOff() + (long) Math.max(seqs, padded) * stride);
        int inputInts = writeInputs(chunks, tokens, logitRows, stride, padded);
        check(cudaMemcpyAsync(at(meta), at(hostMeta.address()), (long) inputInts * Integer.BYTES, cudaMemcpyHostToDevice,
                stream), "cudaMemcpyAsync(inputs)");

        boolean anyArgmax = false;
        boolean anySample = false;
        for (SequenceChunk chunk : chunks) {
            anyArgmax |= chunk.logits() == SequenceChunk.LogitsMode.ARGMAX;
            anySample |= chunk.logits() == SequenceChunk.LogitsMode.SAMPLE;
        }
        boolean draw = anySample && deviceSampling;
        if (draw) {
            writeSampling(chunks, Math.max(logitRows, padded));
        }
        if (faultFn != null) {
            injectFault(chunks);
        }
        gemvPass = decode;
        if (padded > 0) {
            int key = graphKey(padded, draw);
            CUgraphExec_st graph = graphs.get(key);
            if (graph == null && eagerRuns.merge(key, 1, Integer::sum) > 1) {
                graph = capture(padded, draw);
            }
            if (graph != null) {
                check(cudaGraphLaunch(graph, stream), "cudaGraphLaunch");
            } else {
                enqueue(padded, padded, true);
                if (draw) {
                    enqueueSampling(padded);
                }
            }
            anyArgmax = true;  // the graph always reduces every row
        } else {
            enqueue(tokens, logitRows, anyArgmax);
            if (draw) {
                enqueueSampling(logitRows);
            }
        }
        return results(chunks, anyArgmax, draw);
    }

    /** Decode graphs are kept per padded batch size, with and without the draw kernel. */
    private static int graphKey(int padded, boolean draw) {
        return 2 * padded + (draw ? 1 : 0);
    }

    /**
     * Writes each logits row's {@code SampleParams} (kernels.cu) to the pinned buffer and copies them to
     * the device: a SAMPLE row's parameters; temperature 0 (not drawn) for every other row up to
     * {@code rows} (graph padding included).
     */
    private void writeSampling(List<SequenceChunk> chunks, int rows) {
        ensureSamplingCapacity();
        MemorySegment m = hostSampleParams;
        int r = 0;
        for (SequenceChunk chunk : chunks) {
            TokenSampling s = chunk.sampling();
            for (int i = 0; i < chunk.logitsRows(); i++, r++) {
                long at = (long) r * SAMPLE_PARAMS_BYTES;
                if (s == null) {
                    m.set(ValueLayout.JAVA_FLOAT, at, 0f);
                    continue;
                }
                m.set(ValueLayout.JAVA_FLOAT, at, s.temperature());
                m.set(ValueLayout.JAVA_INT, at + 4, s.topK());
                m.set(ValueLayout.JAVA_FLOAT, at + 8, s.topP());
                m.set(ValueLayout.JAVA_INT, at + 12, s.step());
                m.set(ValueLayout.JAVA_DOUBLE, at + 16, s.logMinP());
                m.set(ValueLayout.JAVA_LONG, at + 24, s.key());
            }
        }
        for (; r < rows; r++) {
            m.set(ValueLayout.JAVA_FLOAT, (long) r * SAMPLE_PARAMS_BYTES, 0f);
        }
        check(cudaMemcpyAsync(at(sampleParams), at(m.address()), (long) rows * SAMPLE_PARAMS_BYTES, cudaMemcpyHostToDevice,
                stream), "cudaMemcpyAsync(sampling parameters)");
    }

    /** Draws a token for every logits row whose parameters ask for one (see {@link #writeSampling}), into the ids. */
    private void enqueueSampling(int logitRows) {
        kernels.args().ptr(logits).i32(config.vocabSize()).ptr(sampleParams).ptr(tokenIds)
                .launch(sampleFn, "sample_rows", logitRows, 1, SAMPLE_THREADS, stream);
    }

    /** The test hook: when a chunk holds the fault token, a kernel writes to an unmapped address. */
    private void injectFault(List<SequenceChunk> chunks) {
        for (SequenceChunk chunk : chunks) {
            for (int i = 0; i < chunk.length(); i++) {
                if (chunk.tokenId(i) == faultToken) {
                    LOG.warn("Test hook: token {} in this pass, launching a kernel that writes to an unmapped address",
                            faultToken);
                    kernels.args().ptr(8).launch(faultFn, "fault", 1, 1, 1, stream);
                    return;
                }
            }
        }
    }

    /**
     * Writes the pass's inputs to the pinned host buffer; with {@code padded} > 0, rows beyond the
     * batch up to {@code padded} are padding: token 0 at position 0 of a sequence of their own whose
     * only block is the scratch block. Returns how many ints to copy to the device.
     */
    private int writeInputs(List<SequenceChunk> chunks, int tokens, int logitRows, int stride, int padded) {
        MemorySegment m = hostMeta;
        int bs = kvSpec.blockSize();
        int row = 0;
        int r = 0;
        for (int s = 0; s < chunks.size(); s++) {
            SequenceChunk chunk = chunks.get(s);
            int firstRow = row;
            for (int i = 0; i < chunk.length(); i++, row++) {
                int pos = chunk.startPosition() + i;
                m.setAtIndex(ValueLayout.JAVA_INT, row, chunk.tokenId(i));
                m.setAtIndex(ValueLayout.JAVA_INT, posOff() + row, pos);
                m.setAtIndex(ValueLayout.JAVA_INT, slotOff() + row, chunk.block(pos / bs) * bs + pos % bs);
                m.setAtIndex(ValueLayout.JAVA_INT, seqOff() + row, s);
            }
            int from = chunk.firstLogitsRow();
            for (int i = 0; i < chunk.logitsRows(); i++) {
                m.setAtIndex(ValueLayout.JAVA_INT, rowsOff() + r++, firstRow + from + i);
            }
            int needed = kvSpec.blocksFor(chunk.endPosition());
            for (int b = 0; b < needed; b++) {
                m.setAtIndex(ValueLayout.JAVA_INT, tableOff() + (long) s * stride + b, chunk.block(b));
            }
        }
        int scratch = kvSpec.numBlocks();
        for (int p = chunks.size(); p < padded; p++, row++, r++) {
            m.setAtIndex(ValueLayout.JAVA_INT, row, 0);
            m.setAtIndex(ValueLayout.JAVA_INT, posOff() + row, 0);
            m.setAtIndex(ValueLayout.JAVA_INT, slotOff() + row, scratch * bs);
            m.setAtIndex(ValueLayout.JAVA_INT, seqOff() + row, p);
            m.setAtIndex(ValueLayout.JAVA_INT, rowsOff() + r, row);
            m.setAtIndex(ValueLayout.JAVA_INT, tableOff() + (long) p * stride, scratch);
        }
        m.setAtIndex(ValueLayout.JAVA_INT, strideOff(), stride);
        return (int) (tableOff() + (long) Math.max(chunks.size(), padded) * stride);
    }

    /** Records the decode pass of {@code batch} rows (and its draws) as a graph; null (eager from then on) if capture fails. */
    private @Nullable CUgraphExec_st capture(int batch, boolean draw) {
        CUgraph_st graph = new CUgraph_st();
        CUgraphExec_st exec = new CUgraphExec_st();
        check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
        try {
            enqueue(batch, batch, true);
            if (draw) {
                enqueueSampling(batch);
            }
        } finally {
            check(cudaStreamEndCapture(stream, graph), "cudaStreamEndCapture");
        }
        try {
            check(cudaGraphInstantiate(exec, graph, 0L), "cudaGraphInstantiate");
        } finally {
            cudaGraphDestroy(graph);
        }
        graphs.put(graphKey(batch, draw), exec);
        LOG.debug("Captured the decode pass of {} sequences{} as a CUDA graph", batch, draw ? " with its draws" : "");
        return exec;
    }

    private void dropGraphs() {
        for (CUgraphExec_st g : graphs.values()) {
            cudaGraphExecDestroy(g);
        }
        graphs.clear();
        eagerRuns.clear();
    }

    /**
     * Launches the pass over {@code tokens} rows (inputs already on the device) and the LM head over
     * {@code logitRows} rows, then the argmax of every logits row when asked.
     */
    private void enqueue(int tokens, int logitRows, boolean argmax) {
        ModelConfig c = config;
        long dTokens = meta;
        long dPositions = meta + 4 * posOff();
        long dSlots = meta + 4 * slotOff();
        long dRowSeq = meta + 4 * seqOff();
        long dRows = meta + 4 * rowsOff();
        long dStride = meta + 4 * strideOff();
        long dTables = meta + 4 * tableOff();
        int dim = c.hiddenSize();
        int qkvDim = c.qDim() + 2 * c.kvDim();
        int inter = c.intermediateSize();
        float scale = (float) (1.0 / Math.sqrt(c.headDim()));
        int headGroups = (c.numHeads() + 2 * c.numKvHeads() + 3) / 4;  // qkv_post: 4 warps, one head each

        kernels.args().ptr(dTokens).ptr(embedding).ptr(x).launch(embedFn, "embed", tokens, 1, 128, stream);
        for (int l = 0; l < layers.length; l++) {
            Layer w = layers[l];
            kernels.args().ptr(x).ptr(0).ptr(w.attnNorm()).ptr(xn).launch(rmsnormFn, "rmsnorm", tokens, 1, 256, stream);
            gemm(w.wqkv(), xn, qkv, qkvDim, dim, tokens, false);
            kernels.args().ptr(qkv).ptr(w.bqkv()).ptr(w.qNorm()).ptr(w.kNorm()).ptr(invFreq).ptr(dPositions).ptr(dSlots)
                    .ptr(keyCache[l]).ptr(valueCache[l]).launch(qkvPostFn, "qkv_post", tokens, headGroups, 128, stream);
            kernels.args().ptr(qkv).ptr(keyCache[l]).ptr(valueCache[l]).ptr(dPositions).ptr(dRowSeq).ptr(dTables)
                    .ptr(dStride).i32(kvSpec.blockSize()).f32(scale).ptr(att)
                    .launch(attentionFn, "attention", tokens, c.numHeads(), 256, stream);
            gemm(w.wo(), att, x, dim, c.qDim(), tokens, true);
            if (w.bo() != 0) {
                kernels.args().ptr(x).ptr(w.bo()).launch(addBiasFn, "add_bias", tokens, 1, 256, stream);
            }
            kernels.args().ptr(x).ptr(0).ptr(w.ffnNorm()).ptr(xn).launch(rmsnormFn, "rmsnorm", tokens, 1, 256, stream);
            gateUpSilu(w.wgateUp(), tokens);
            gemm(w.wdown(), hidden, x, dim, inter, tokens, true);
        }
        if (logitRows == 0) {
            return;
        }
        int vocab = c.vocabSize();
        kernels.args().ptr(x).ptr(dRows).ptr(finalNorm).ptr(logitsNormed).launch(rmsnormFn, "rmsnorm", logitRows, 1, 256, stream);
        gemm(lmHead, logitsNormed, logits, vocab, dim, logitRows, false);
        if (argmax) {
            kernels.args().ptr(logits).i32(vocab).ptr(tokenIds).launch(argmaxFn, "argmax_rows", logitRows, 1, 1024, stream);
        }
    }

    /**
     * Copies back what each chunk asked for (token ids of argmax rows and of rows drawn on the device,
     * logits rows), waits, and hands them out; SAMPLE rows not drawn on the device are drawn here.
     */
    private float[][] results(List<SequenceChunk> chunks, boolean argmaxDone, boolean drawn) {
        int vocab = config.vocabSize();
        int logitRows = 0;
        long offset = 0;
        for (SequenceChunk chunk : chunks) {
            long bytes = (long) chunk.logitsRows() * vocab * Float.BYTES;
            if (!idOnly(chunk, drawn) && bytes > 0) {
                check(cudaMemcpyAsync(at(hostLogits.address() + offset), at(logits + offset), bytes, cudaMemcpyDeviceToHost,
                        stream), "cudaMemcpyAsync(logits)");
                logitsRowsCopied += chunk.logitsRows();
            }
            offset += bytes;
            logitRows += chunk.logitsRows();
        }
        if ((argmaxDone || drawn) && logitRows > 0) {
            check(cudaMemcpyAsync(at(hostTokenIds.address()), at(tokenIds), (long) logitRows * Integer.BYTES,
                    cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync(token ids)");
        }
        sync();
        float[][] result = new float[chunks.size()][];
        int row = 0;
        for (int s = 0; s < chunks.size(); s++) {
            SequenceChunk chunk = chunks.get(s);
            int n = chunk.logitsRows();
            if (idOnly(chunk, drawn)) {
                result[s] = new float[] {hostTokenIds.getAtIndex(ValueLayout.JAVA_INT, row)};
            } else {
                result[s] = new float[n * vocab];
                MemorySegment.copy(hostLogits, ValueLayout.JAVA_FLOAT, (long) row * vocab * Float.BYTES, result[s], 0, n * vocab);
                if (chunk.logits() == SequenceChunk.LogitsMode.SAMPLE) {
                    result[s] = new float[] {hostSampler.sample(result[s], 0, vocab, chunk.sampling())};
                }
            }
            row += n;
        }
        return result;
    }

    /** Whether only a token id of this chunk comes back: an argmax, or a draw made on the device. */
    private static boolean idOnly(SequenceChunk chunk, boolean drawn) {
        return chunk.logits() == SequenceChunk.LogitsMode.ARGMAX
                || (drawn && chunk.logits() == SequenceChunk.LogitsMode.SAMPLE);
    }

    /**
     * {@code hidden = bf16(silu(xn·Wgᵀ) * xn·Wuᵀ)} of {@code rows} rows, {@code wGateUp = [Wg; Wu]}: one
     * fused GEMV launch for few rows, else the gate|up GEMM into {@code gateUp} and silu_mul.
     */
    private void gateUpSilu(long wGateUp, int rows) {
        int dim = config.hiddenSize();
        int inter = config.intermediateSize();
        if (gemv != null && gemvPass && Gemv.applies(rows, dim, wGateUp, xn)) {
            gemv.launch(wGateUp, xn, hidden, inter, dim, rows, Gemv.SWIGLU, stream);
        } else {
            gemm(wGateUp, xn, gateUp, 2 * inter, dim, rows, false);
            kernels.args().ptr(gateUp).ptr(hidden).launch(siluMulFn, "silu_mul", rows, 1, 256, stream);
        }
    }

    /**
     * {@code out[rows × outDim] (f32) = in[rows × inDim] (bf16|f16) · W[outDim × inDim]ᵀ (bf16|f16)}, plus
     * {@code out} when accumulating (the residual add): the {@link Gemv} kernel for few rows, else
     * cuBLAS. Row-major here is column-major transposed for cuBLAS: {@code outᵀ = W · inᵀ}.
     */
    private void gemm(long w, long in, long out, int outDim, int inDim, int rows, boolean accumulate) {
        if (gemv != null && gemvPass && Gemv.applies(rows, inDim, w, in)) {
            gemv.launch(w, in, out, outDim, inDim, rows, accumulate ? Gemv.ACCUMULATE : Gemv.STORE, stream);
            return;
        }
        int type = weightType == DType.F16 ? CUDA_R_16F : CUDA_R_16BF;
        checkBlas(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, outDim, rows, inDim, one, at(w), type, inDim,
                at(in), type, inDim, accumulate ? one : zero, at(out), CUDA_R_32F, outDim,
                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
    }

    private void sync() {
        if (!stream.isNull()) {
            check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
        }
    }

    /** Frees the device memory, the pinned host buffers, the cuBLAS handle, the module and the stream. */
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
        dropGraphs();
        if (!blas.isNull()) {
            cublasDestroy_v2(blas);
        }
        if (kernels != null) {
            kernels.close();
        }
        for (long a : allocations.keySet()) {
            cudaFree(at(a));
        }
        allocations.clear();
        deviceBytes = 0;
        freeHost(hostLogits);
        freeHost(hostTokenIds);
        freeHost(hostMeta);
        freeHost(hostSampleParams);
        hostLogits = MemorySegment.NULL;
        hostTokenIds = MemorySegment.NULL;
        hostMeta = MemorySegment.NULL;
        hostSampleParams = MemorySegment.NULL;
        if (!stream.isNull()) {
            cudaStreamDestroy(stream);
        }
        one.close();
        zero.close();
    }
}
