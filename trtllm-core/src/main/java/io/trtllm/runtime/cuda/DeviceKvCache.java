package io.trtllm.runtime.cuda;

import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.KvCacheSpec;

/**
 * The paged KV cache on the device: per layer, keys and values {@code [block][slot][kvHead][headDim]} in
 * the runner's 16-bit type or FP8 E4M3 ({@code elementBytes} 2 or 1), block ids the executor's, plus one block more than the executor's (block
 * {@code spec.numBlocks()}): padding rows of graph replays write there. Owns its device memory.
 */
final class DeviceKvCache implements AutoCloseable {
    private final DeviceMemory memory;
    /** Per layer: the addresses of the keys and of the values. */
    private final long[] keys;
    private final long[] values;
    /** Bytes of one layer's keys, as of its values. */
    private final long layerBytes;

    /**
     * Allocates the cache of {@code spec} for {@code config}'s layers; what was allocated before running
     * out of memory stays in {@code memory}, whose owner frees it.
     *
     * @throws CudaException when the device has too little free, naming the cache, its size and the layer
     */
    DeviceKvCache(ModelConfig config, KvCacheSpec spec, int elementBytes, DeviceMemory memory) {
        this.memory = memory;
        int layers = config.numLayers();
        this.layerBytes = (spec.capacityTokens() + spec.blockSize()) * config.kvDim() * elementBytes;
        this.keys = new long[layers];
        this.values = new long[layers];
        String kv = "the KV cache (" + spec.numBlocks() + " blocks of " + spec.blockSize() + " tokens, "
                + 2 * layers * layerBytes + " bytes in all)";
        for (int l = 0; l < layers; l++) {
            keys[l] = memory.alloc(layerBytes, kv + ", keys of layer " + l);
            values[l] = memory.alloc(layerBytes, kv + ", values of layer " + l);
        }
    }

    long keys(int l) {
        return keys[l];
    }

    long values(int l) {
        return values[l];
    }

    /** Bytes of all layers' keys and values. */
    long bytes() {
        return 2 * keys.length * layerBytes;
    }

    /** Frees the cache; idempotent. */
    @Override
    public void close() {
        for (int l = 0; l < keys.length; l++) {
            memory.free(keys[l]);
            memory.free(values[l]);
            keys[l] = 0;
            values[l] = 0;
        }
    }
}
