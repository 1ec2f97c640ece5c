package io.trtllm.runtime.cpu;

import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.KvCacheSpec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The paged KV cache of {@link CpuModelRunner}: per layer, the keys and the values of every slot of
 * every block, laid out as {@link Kernels#keyIndex} and {@link Kernels#valueIndex} say (keys transposed
 * inside each block). Float32 caches are heap arrays; 16-bit caches ({@link DType#BF16}, {@link DType#F16},
 * keys and values rounded to nearest even when stored) live off the heap, where the kernels load their
 * element pairs as int vectors.
 */
final class CpuKvCache implements AutoCloseable {
    private final DType type;
    private final int blockSize;
    private final int kvDim;
    private final int headDim;
    private final int kvHeads;
    /** Elements per layer of the keys, as of the values. */
    private final long slots;
    private final float[][] keys;
    private final float[][] values;
    private final MemorySegment[] keys16;
    private final MemorySegment[] values16;
    /** Owns the 16-bit caches. */
    private final Arena arena = Arena.ofShared();

    /**
     * @throws IllegalArgumentException when {@code type} is not a floating-point type, or a layer's cache
     *                                  would not fit a Java array
     */
    CpuKvCache(ModelConfig config, KvCacheSpec spec, DType type) {
        checkType(type);
        long slots = spec.capacityTokens() * config.kvDim() + Kernels.CACHE_PAD;
        if (slots > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("KV cache of " + spec.capacityTokens() + " tokens × " + config.kvDim()
                    + " floats per layer exceeds the CPU backend's 2^31-element arrays; lower max_tokens");
        }
        this.type = type;
        this.blockSize = spec.blockSize();
        this.kvDim = config.kvDim();
        this.headDim = config.headDim();
        this.kvHeads = config.numKvHeads();
        this.slots = slots;
        int layers = config.numLayers();
        boolean f32 = type == DType.F32;
        this.keys = new float[f32 ? layers : 0][(int) slots];
        this.values = new float[f32 ? layers : 0][(int) slots];
        this.keys16 = new MemorySegment[f32 ? 0 : layers];
        this.values16 = new MemorySegment[f32 ? 0 : layers];
        for (int l = 0; l < keys16.length; l++) {
            keys16[l] = arena.allocate(slots * 2, 64);
            values16[l] = arena.allocate(slots * 2, 64);
        }
    }

    /** @throws IllegalArgumentException unless {@code type} is F32, F16 or BF16 */
    static void checkType(DType type) {
        if (!type.isFloatingPoint()) {
            throw new IllegalArgumentException("KV cache dtype must be F32, F16 or BF16, got " + type);
        }
    }

    DType type() {
        return type;
    }

    boolean f32() {
        return type == DType.F32;
    }

    /** Layer {@code l}'s keys of a float32 cache. */
    float[] keys(int l) {
        return keys[l];
    }

    /** Layer {@code l}'s values of a float32 cache. */
    float[] values(int l) {
        return values[l];
    }

    /** Layer {@code l}'s keys of a 16-bit cache. */
    MemorySegment keys16(int l) {
        return keys16[l];
    }

    /** Layer {@code l}'s values of a 16-bit cache. */
    MemorySegment values16(int l) {
        return values16[l];
    }

    /**
     * Stores one row's key and value in layer {@code l} at {@code slot} of {@code block}: {@code kvDim}
     * floats each, at {@code qkv[k]} and {@code qkv[v]}.
     */
    void store(int l, float[] qkv, int k, int v, int block, int slot) {
        int keyAt = Kernels.keyIndex(block, slot, 0, blockSize, kvDim);
        boolean f32 = f32();
        if (f32) {
            float[] kc = keys[l];
            for (int i = 0; i < kvDim; i++) {
                kc[keyAt + i * blockSize] = qkv[k + i];
            }
        } else {
            KvStore.store(type, qkv, k, keys16[l], keyAt, blockSize, kvDim);
        }
        for (int g = 0; g < kvHeads; g++) {
            int valueAt = Kernels.valueIndex(block, slot, g, 0, blockSize, kvDim, headDim);
            if (f32) {
                System.arraycopy(qkv, v + g * headDim, values[l], valueAt, headDim);
            } else {
                KvStore.store(type, qkv, v + g * headDim, values16[l], valueAt, 1, headDim);
            }
        }
    }

    /**
     * Copies every slot of block {@code from} into block {@code to}, keys and values of every layer: a block is
     * one contiguous run of {@code blockSize × kvDim} elements per layer ({@link Kernels#keyIndex},
     * {@link Kernels#valueIndex}).
     */
    void copyBlock(int from, int to) {
        int n = blockSize * kvDim;
        long src = (long) from * n;
        long dst = (long) to * n;
        for (int l = 0; l < keys.length; l++) {
            System.arraycopy(keys[l], (int) src, keys[l], (int) dst, n);
            System.arraycopy(values[l], (int) src, values[l], (int) dst, n);
        }
        for (int l = 0; l < keys16.length; l++) {
            MemorySegment.copy(keys16[l], src * 2, keys16[l], dst * 2, n * 2L);
            MemorySegment.copy(values16[l], src * 2, values16[l], dst * 2, n * 2L);
        }
    }

    /** Bytes of all layers' keys and values. */
    long bytes() {
        return 2L * Math.max(keys.length, keys16.length) * slots * type.byteSize();
    }

    @Override
    public void close() {
        arena.close();
    }
}
