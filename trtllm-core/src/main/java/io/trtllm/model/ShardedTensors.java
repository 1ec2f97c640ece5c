package io.trtllm.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One rank's tensors of a checkpoint ({@link RankShard#view}), named as a model of {@link RankShard#localConfig}
 * would name them: the stage's layers renumbered from 0, each split tensor cut to the rank's part. Row slices
 * (q/k/v, gate/up, embedding, LM head and their biases) are views of the source's memory; column slices (o,
 * down) are copied once, on first use, into memory this view owns. Norms and the o bias are whole on every rank.
 * The source must stay open while the view is used.
 */
public final class ShardedTensors implements TensorSource, AutoCloseable {
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");
    private static final String PACKED_SUFFIX_PANELS = ".panels";
    private static final String PACKED_SUFFIX_QWEIGHT = ".qweight";

    private final RankShard shard;
    private final TensorSource source;
    private final Set<String> names;
    private final Arena arena = Arena.ofShared();
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
    /** Column slices copied so far, so that a second lookup returns the same memory. */
    private final ConcurrentHashMap<String, Tensor> copies = new ConcurrentHashMap<>();

    ShardedTensors(RankShard shard, TensorSource source) {
        this.shard = shard;
        this.source = source;
        Set<String> local = new LinkedHashSet<>();
        for (String name : source.names()) {
            if (name.endsWith(PACKED_SUFFIX_PANELS) || name.endsWith(PACKED_SUFFIX_QWEIGHT)) {
                throw new ModelFormatException("tensor '" + name + "' of " + source.location() + " is in an engine's "
                        + "packed layout, which cannot be split at load; build the engine for " + shard.parallelism()
                        + " instead");
            }
            Matcher m = LAYER.matcher(name);
            if (m.matches()) {
                int layer = Integer.parseInt(m.group(1));
                if (layer >= shard.firstLayer() && layer < shard.endLayer()) {
                    local.add("model.layers." + (layer - shard.firstLayer()) + "." + m.group(2));
                }
            } else {
                local.add(name);
            }
        }
        this.names = Set.copyOf(local);
    }

    @Override
    public Set<String> names() {
        return names;
    }

    @Override
    public boolean contains(String name) {
        return names.contains(name);
    }

    @Override
    public String location() {
        return source.location() + " (" + shard + ")";
    }

    @Override
    public Tensor tensor(String name) {
        Tensor t = slice(name);
        // Named as the rank's model names it (layers from 0), so that an engine built from this view is the rank's own.
        return t.name().equals(name) ? t : new Tensor(name, t.dtype(), t.shape(), t.data());
    }

    private Tensor slice(String name) {
        if (!names.contains(name)) {
            throw new ModelFormatException("tensor '" + name + "' not found in " + location());
        }
        Matcher m = LAYER.matcher(name);
        if (!m.matches()) {
            return switch (name) {
                case "model.embed_tokens.weight", "lm_head.weight" ->
                        rows(source.tensor(name), shard.firstVocabRow(), shard.vocabRows());
                default -> source.tensor(name);
            };
        }
        String global = "model.layers." + (Integer.parseInt(m.group(1)) + shard.firstLayer()) + "." + m.group(2);
        Tensor t = source.tensor(global);
        int headDim = shard.model().headDim();
        return switch (m.group(2)) {
            case "self_attn.q_proj.weight", "self_attn.q_proj.bias" ->
                    rows(t, shard.firstQueryHead() * headDim, shard.queryHeads() * headDim);
            case "self_attn.k_proj.weight", "self_attn.k_proj.bias", "self_attn.v_proj.weight", "self_attn.v_proj.bias" ->
                    rows(t, shard.firstKvHead() * headDim, shard.kvHeads() * headDim);
            case "self_attn.o_proj.weight" -> copies.computeIfAbsent(name, n -> columns(t, n,
                    shard.firstQueryHead() * headDim, shard.queryHeads() * headDim));
            case "mlp.gate_proj.weight", "mlp.up_proj.weight" -> rows(t, shard.firstFeature(), shard.features());
            case "mlp.down_proj.weight" -> copies.computeIfAbsent(name, n -> columns(t, n, shard.firstFeature(),
                    shard.features()));
            default -> t;
        };
    }

    /** Rows {@code [first, first + count)} of a matrix (or elements of a vector), in place. */
    private static Tensor rows(Tensor t, int first, int count) {
        long[] shape = t.shape();
        if (shape.length == 0 || first + (long) count > shape[0]) {
            throw new ModelFormatException("tensor '" + t.name() + "' has shape " + java.util.Arrays.toString(shape)
                    + ", too small for rows [" + first + ", " + (first + count) + ")");
        }
        long rowBytes = t.data().byteSize() / shape[0];
        shape[0] = count;
        return new Tensor(t.name(), t.dtype(), shape, t.data().asSlice(first * rowBytes, count * rowBytes));
    }

    /** Columns {@code [first, first + count)} of a matrix, copied. */
    private Tensor columns(Tensor t, String localName, int first, int count) {
        long[] shape = t.shape();
        if (shape.length != 2 || first + (long) count > shape[1]) {
            throw new ModelFormatException("tensor '" + t.name() + "' has shape " + java.util.Arrays.toString(shape)
                    + ", expected a matrix with columns [" + first + ", " + (first + count) + ")");
        }
        long element = t.dtype().byteSize();
        long rows = shape[0];
        long cols = shape[1];
        MemorySegment out = arena.allocate(rows * count * element, 64);
        for (long r = 0; r < rows; r++) {
            MemorySegment.copy(t.data(), (r * cols + first) * element, out, r * count * element, count * element);
        }
        return new Tensor(t.name(), t.dtype(), new long[] {rows, count}, out);
    }

    /** Frees the copied column slices; idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            arena.close();
        }
    }
}
