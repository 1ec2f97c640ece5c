package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.checkDriver;
import static io.trtllm.runtime.cuda.Cuda.checkNvrtc;
import static org.bytedeco.cuda.global.cudart.cuLaunchKernel;
import static org.bytedeco.cuda.global.cudart.cuModuleGetFunction;
import static org.bytedeco.cuda.global.cudart.cuModuleLoadData;
import static org.bytedeco.cuda.global.cudart.cuModuleUnload;
import static org.bytedeco.cuda.global.nvrtc.nvrtcCompileProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcCreateProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcDestroyProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetCUBIN;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetCUBINSize;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLog;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLogSize;
import static org.bytedeco.cuda.global.nvrtc.nvrtcVersion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backend's kernels ({@code kernels.cu}) for one model shape and device, loaded as a module:
 * the cubin an engine carries when it matches ({@link #load}), else compiled by NVRTC. Cubins that
 * NVRTC compiled are kept in memory per (source, options), so a second runner of the same model
 * skips NVRTC. Not thread-safe: launches share one argument buffer.
 */
final class KernelModule implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(KernelModule.class);
    private static final Map<String, CompiledKernels> CUBINS = new ConcurrentHashMap<>();
    private static final int MAX_ARGS = 16;

    private final CUmod_st module = new CUmod_st();
    private final Arena arena = Arena.ofShared();
    /** Kernel arguments, 8 bytes each, and the array of their addresses that cuLaunchKernel reads. */
    private final MemorySegment argValues;
    /** cuLaunchKernel's {@code void** kernelParams}: its Pointer overload would pass the address of this address. */
    private final PointerPointer<?> argPointers;
    /** Where the cubin came from, in words (for the runner's description). */
    private final String origin;
    private int argCount;

    /** The module of {@code arch} and {@code defines}, compiled by NVRTC (or taken from the in-memory cache). */
    KernelModule(String arch, List<String> defines) {
        this(compile(arch, defines).cubin(), "compiled by NVRTC at load");
    }

    private KernelModule(byte[] cubin, String origin) {
        try (BytePointer image = new BytePointer(cubin.length)) {
            image.put(cubin);
            checkDriver(cuModuleLoadData(module, image), "cuModuleLoadData");
        }
        this.origin = origin;
        argValues = arena.allocate(8L * MAX_ARGS, 16);
        MemorySegment pointers = arena.allocate(8L * MAX_ARGS, 16);
        for (int i = 0; i < MAX_ARGS; i++) {
            pointers.setAtIndex(ValueLayout.JAVA_LONG, i, argValues.address() + 8L * i);
        }
        argPointers = new PointerPointer<>(Cuda.at(pointers.address()));
    }

    /**
     * The module for {@code arch} and {@code defines}: {@code precompiled} (an engine's cubin) when it
     * was compiled for this architecture from this version's source with these options and the
     * driver loads it; otherwise NVRTC's, after one log line that says why.
     */
    static KernelModule load(String arch, List<String> defines, @Nullable CompiledKernels precompiled) {
        String why;
        if (precompiled == null) {
            why = "no precompiled kernels came with the weights (an engine built for any GPU, or a checkpoint opened directly)";
        } else {
            why = precompiled.mismatch(arch, KernelSource.sha256(), KernelSource.options(arch, defines));
            if (why == null) {
                try {
                    return new KernelModule(precompiled.cubin(), "from the engine's " + arch + " cubin");
                } catch (CudaException e) {
                    why = "the driver did not load them (" + e.getMessage() + ")";
                }
            } else {
                why = "the engine's kernels do not fit: " + why;
            }
        }
        LOG.info("Compiling the CUDA kernels with NVRTC for {}: {}", arch, why);
        return new KernelModule(arch, defines);
    }

    /** Where this module's cubin came from: the engine's, or compiled by NVRTC at load. */
    String origin() {
        return origin;
    }

    /** Compiles {@code kernels.cu} for {@code arch} with {@code defines} (or takes it from the in-memory cache). */
    static CompiledKernels compile(String arch, List<String> defines) {
        String source = KernelSource.text();
        List<String> options = KernelSource.options(KernelSource.checkArch(arch), defines);
        String sha = KernelSource.sha256();
        return CUBINS.computeIfAbsent(sha + "|" + String.join(" ", options),
                k -> new CompiledKernels(arch, sha, options, "NVRTC " + version(), nvrtc(source, options)));
    }

    /** The NVRTC library's version, e.g. {@code 13.0}; loads the NVRTC natives. */
    static String version() {
        int[] major = new int[1];
        int[] minor = new int[1];
        checkNvrtc(nvrtcVersion(major, minor), "nvrtcVersion");
        return major[0] + "." + minor[0];
    }

    private static byte[] nvrtc(String source, List<String> options) {
        long start = System.nanoTime();
        _nvrtcProgram program = new _nvrtcProgram();
        try (BytePointer src = new BytePointer(source); BytePointer name = new BytePointer(KernelSource.NAME)) {
            checkNvrtc(nvrtcCreateProgram(program, src, name, 0, (PointerPointer<?>) null, (PointerPointer<?>) null),
                    "nvrtcCreateProgram");
        }
        try (PointerPointer<?> opts = new PointerPointer<>(options.toArray(String[]::new))) {
            int status = nvrtcCompileProgram(program, options.size(), opts);
            if (status != 0) {
                throw new CudaException("NVRTC could not compile " + KernelSource.NAME + " with " + options + ":\n" + log(program),
                        status);
            }
            try (SizeTPointer size = new SizeTPointer(1)) {
                checkNvrtc(nvrtcGetCUBINSize(program, size), "nvrtcGetCUBINSize");
                byte[] cubin = new byte[(int) size.get()];
                try (BytePointer out = new BytePointer(size.get())) {
                    checkNvrtc(nvrtcGetCUBIN(program, out), "nvrtcGetCUBIN");
                    out.get(cubin);
                }
                LOG.debug("NVRTC compiled {} ({} bytes of cubin) in {} ms", KernelSource.NAME, cubin.length,
                        (System.nanoTime() - start) / 1_000_000);
                return cubin;
            }
        } finally {
            nvrtcDestroyProgram(program);
        }
    }

    private static String log(_nvrtcProgram program) {
        try (SizeTPointer size = new SizeTPointer(1)) {
            if (nvrtcGetProgramLogSize(program, size) != 0 || size.get() <= 1) {
                return "(no log)";
            }
            try (BytePointer log = new BytePointer(size.get())) {
                nvrtcGetProgramLog(program, log);
                return log.getString();
            }
        }
    }

    /** A kernel of this module. */
    CUfunc_st function(String name) {
        CUfunc_st f = new CUfunc_st();
        checkDriver(cuModuleGetFunction(f, module, name), "cuModuleGetFunction(" + name + ")");
        return f;
    }

    // ---- launches: args().ptr(..).i32(..).launch(...) ----

    KernelModule args() {
        argCount = 0;
        return this;
    }

    KernelModule ptr(long address) {
        argValues.setAtIndex(ValueLayout.JAVA_LONG, argCount++, address);
        return this;
    }

    KernelModule i32(int value) {
        argValues.setAtIndex(ValueLayout.JAVA_LONG, argCount++, value & 0xffffffffL);
        return this;
    }

    KernelModule i64(long value) {
        argValues.setAtIndex(ValueLayout.JAVA_LONG, argCount++, value);
        return this;
    }

    KernelModule f32(float value) {
        argValues.setAtIndex(ValueLayout.JAVA_LONG, argCount++, Float.floatToRawIntBits(value) & 0xffffffffL);
        return this;
    }

    /** Launches {@code f} with the arguments set since {@link #args()} on a (gridX, gridY) grid. */
    void launch(CUfunc_st f, String name, int gridX, int gridY, int blockX, CUstream_st stream) {
        launch(f, name, gridX, gridY, 1, blockX, stream);
    }

    /** Launches {@code f} with the arguments set since {@link #args()} on a (gridX, gridY, gridZ) grid. */
    void launch(CUfunc_st f, String name, int gridX, int gridY, int gridZ, int blockX, CUstream_st stream) {
        checkDriver(cuLaunchKernel(f, gridX, gridY, gridZ, blockX, 1, 1, 0, stream, argPointers, (PointerPointer<?>) null),
                "cuLaunchKernel(" + name + ")");
    }

    @Override
    public void close() {
        cuModuleUnload(module);
        arena.close();
    }
}
