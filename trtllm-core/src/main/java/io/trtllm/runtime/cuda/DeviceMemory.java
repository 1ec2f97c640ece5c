package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaFreeHost;
import static org.bytedeco.cuda.global.cudart.cudaGetLastError;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMallocHost;
import static org.bytedeco.cuda.global.cudart.cudaMemGetInfo;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * The device memory and pinned host memory of one {@link CudaModelRunner}: every allocation of its
 * parts goes through here, so that running out of device memory reads the same everywhere (what was
 * asked for, the bytes free, what the runner holds) and {@link #close} frees whatever is still held,
 * whatever failed on the way (a construction or a buffer growth that ran out of memory half-way).
 * Not thread-safe, except {@link #deviceBytes}, which metrics threads read.
 */
final class DeviceMemory implements AutoCloseable {
    private final CudaDevice device;
    /** Device allocations: address → bytes. */
    private final Map<Long, Long> allocations = new HashMap<>();
    /** Pinned host allocations (addresses). */
    private final Set<Long> pinned = new HashSet<>();
    /** The total of {@link #allocations}. */
    private volatile long deviceBytes;

    DeviceMemory(CudaDevice device) {
        this.device = device;
    }

    /**
     * {@code bytes} of device memory for {@code what}.
     *
     * @throws CudaException when the device has too little free (its message names what, the bytes asked
     *                       for and the bytes free), or on another CUDA error
     */
    long alloc(long bytes, String what) {
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

    /** Frees device memory from {@link #alloc}; 0 and addresses already freed are passed over. */
    void free(long address) {
        Long size = address != 0 ? allocations.remove(address) : null;
        if (size != null) {
            cudaFree(at(address));
            deviceBytes -= size;
        }
    }

    /** {@code bytes} of pinned host memory (the source and target of asynchronous copies). */
    MemorySegment allocHost(long bytes) {
        Pointer p = new Pointer();
        check(cudaMallocHost(p, bytes), "cudaMallocHost(" + bytes + " bytes)");
        pinned.add(p.address());
        return MemorySegment.ofAddress(p.address()).reinterpret(bytes);
    }

    /** Frees pinned memory from {@link #allocHost}; {@link MemorySegment#NULL} and segments already freed are passed over. */
    void freeHost(MemorySegment s) {
        if (s.address() != 0 && pinned.remove(s.address())) {
            cudaFreeHost(at(s.address()));
        }
    }

    /** Bytes of device memory held now. */
    long deviceBytes() {
        return deviceBytes;
    }

    /** Bytes of device memory free on the current device. */
    static long freeBytes() {
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
            check(cudaMemGetInfo(free, total), "cudaMemGetInfo");
            return free.get();
        }
    }

    /** Frees every allocation still held; idempotent. The device must be current on the calling thread. */
    @Override
    public void close() {
        for (long a : allocations.keySet()) {
            cudaFree(at(a));
        }
        allocations.clear();
        deviceBytes = 0;
        for (long a : pinned) {
            cudaFreeHost(at(a));
        }
        pinned.clear();
    }
}
