package io.trtllm.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks a Hugging Face checkpoint against its {@code config.json} before anything is built from
 * it, so that a checkpoint that cannot run fails at once, naming the file, the tensor and the
 * expected shape, instead of after a build that was cached (and evicted good engines) and failed at
 * load, or with an {@link OutOfMemoryError} sized by a config value nobody checked.
 *
 * <p>What {@link #validate} checks, in this order (the safetensors headers themselves, offsets,
 * overlaps, lengths and dtypes, were already checked by {@link SafeTensors#open}):
 *
 * <ol>
 *   <li><b>layer count</b>: the layer indices of the tensor names ({@code model.layers.<i>.})
 *       are exactly {@code 0 .. num_hidden_layers - 1}. Computed from the names, so a config that
 *       claims a billion layers costs one pass over the checkpoint's names;</li>
 *   <li><b>dtypes</b>: no tensor of the checkpoint is of an integer type (the build converts or
 *       quantizes floating-point weights only);</li>
 *   <li><b>every tensor the runners read</b> is present and of the shape the config implies
 *       (embedding and LM head {@code [vocab_size, hidden_size]}, q/k/v/o, the MLP, norms, and the
 *       biases and q/k norms the config's flags call for);</li>
 *   <li><b>NaN and infinity</b>, sampled: every element of a tensor of at most
 *       {@value #SCAN_PIECES} × {@value #SCAN_PIECE_BYTES} bytes; of a larger one,
 *       {@value #SCAN_PIECES} pieces of {@value #SCAN_PIECE_BYTES} bytes spread evenly from its
 *       first byte to its last. That reads at most 256 KiB per tensor, whatever the model's size.</li>
 * </ol>
 *
 * <p>Tensors the runners do not read (for example {@code rotary_emb.inv_freq}) are ignored, as
 * transformers ignores them.
 */
public final class CheckpointValidator {
    /** Pieces of a large tensor that the NaN/Inf scan reads. */
    public static final int SCAN_PIECES = 64;
    /** Bytes of one piece (a page; a multiple of every element size). */
    public static final int SCAN_PIECE_BYTES = 4096;

    private static final Logger LOG = LoggerFactory.getLogger(CheckpointValidator.class);
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\..*");
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private CheckpointValidator() {
    }

    /**
     * What a validation looked at.
     *
     * @param tensors      tensors checked against the config
     * @param scannedBytes bytes read by the NaN/Inf scan
     */
    public record Report(int tensors, long scannedBytes) {
    }

    /**
     * Checks {@code weights} against {@code config} (read from {@code configFile}): layer count,
     * presence, dtype and shape of every tensor the runners read, and a sample of every tensor's
     * values for NaN and infinity.
     *
     * @throws ModelFormatException naming the file, the tensor and what was expected
     */
    public static Report validate(ModelConfig config, Checkpoint weights, Path configFile) {
        long start = System.nanoTime();
        checkLayerCount(config, weights, configFile);
        for (String name : weights.names()) {
            Tensor t = weights.tensor(name);
            if (!t.dtype().isFloatingPoint()) {
                throw new ModelFormatException(weights.fileOf(name) + ": tensor '" + name + "' has dtype " + t.dtype()
                        + "; checkpoints hold F32, BF16 or F16 weights (pre-quantized checkpoints are not supported; "
                        + "quantize at engine build with quantization int8 or int4)");
            }
        }
        List<Expected> expected = expectedTensors(config);
        for (Expected e : expected) {
            check(e, weights, configFile);
        }
        long scanned = 0;
        for (String name : weights.names()) {
            scanned += scanNonFinite(weights.tensor(name), weights.fileOf(name));
        }
        LOG.debug("Checked {} tensors of {} against {}; scanned {} KiB for NaN/Inf in {} ms", expected.size(),
                weights.directory(), configFile, scanned >> 10, (System.nanoTime() - start) / 1_000_000);
        return new Report(expected.size(), scanned);
    }

    /**
     * Checks that the layer indices in the tensor names are exactly {@code 0 .. num_hidden_layers - 1}
     * (for a checkpoint and for an engine, whose layers are named alike).
     *
     * @throws ModelFormatException naming the config, the count, and the first missing or extra tensor
     */
    public static void checkLayerCount(ModelConfig config, Checkpoint weights, Path configFile) {
        int layers = config.numLayers();
        // index -> one tensor name of that layer; at most one entry per tensor, whatever num_hidden_layers says
        TreeMap<Long, String> found = new TreeMap<>();
        for (String name : weights.names()) {
            Matcher m = LAYER.matcher(name);
            if (!m.matches()) {
                continue;
            }
            String digits = m.group(1);
            long index = digits.length() > 18 ? Long.MAX_VALUE : Long.parseLong(digits);
            if (index >= layers) {
                throw new ModelFormatException(weights.fileOf(name) + ": tensor '" + name + "' is of layer " + digits
                        + ", but " + configFile + " has num_hidden_layers " + layers + " (layers 0.." + (layers - 1)
                        + "); the config and the checkpoint disagree");
            }
            found.putIfAbsent(index, name);
        }
        if (found.size() == layers) {
            return;
        }
        long missing = 0;
        while (found.containsKey(missing)) {
            missing++;
        }
        String tensor = "model.layers." + missing + ".input_layernorm.weight";
        throw new ModelFormatException(weightsFile(weights) + ": tensor '" + tensor + "' (shape ["
                + config.hiddenSize() + "]) is missing: " + configFile + " has num_hidden_layers " + layers
                + ", the checkpoint holds " + found.size() + " layer(s)"
                + (found.isEmpty() ? "" : " (" + describe(found) + ")"));
    }

    /** One tensor the config calls for. */
    private record Expected(String name, long[] shape, String from) {
    }

    /** The tensors the runners read for {@code c}, with the config keys their shapes come from. */
    private static List<Expected> expectedTensors(ModelConfig c) {
        long h = c.hiddenSize();
        long v = c.vocabSize();
        long q = c.qDim();
        long kv = c.kvDim();
        long inter = c.intermediateSize();
        String hidden = "hidden_size";
        String qDim = "num_attention_heads × head_dim";
        String kvDim = "num_key_value_heads × head_dim";
        List<Expected> out = new ArrayList<>();
        out.add(new Expected("model.embed_tokens.weight", new long[] {v, h}, "vocab_size, " + hidden));
        out.add(new Expected("model.norm.weight", new long[] {h}, hidden));
        // A tied head reuses the embedding; a checkpoint may still carry its copy, which must then fit too.
        out.add(new Expected("lm_head.weight", new long[] {v, h}, "vocab_size, " + hidden
                + (c.tieWordEmbeddings() ? " (optional: tie_word_embeddings)" : "")));
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            out.add(new Expected(p + "input_layernorm.weight", new long[] {h}, hidden));
            out.add(new Expected(p + "self_attn.q_proj.weight", new long[] {q, h}, qDim + ", " + hidden));
            out.add(new Expected(p + "self_attn.k_proj.weight", new long[] {kv, h}, kvDim + ", " + hidden));
            out.add(new Expected(p + "self_attn.v_proj.weight", new long[] {kv, h}, kvDim + ", " + hidden));
            out.add(new Expected(p + "self_attn.o_proj.weight", new long[] {h, q}, hidden + ", " + qDim));
            if (c.attentionBias()) {
                out.add(new Expected(p + "self_attn.q_proj.bias", new long[] {q}, qDim + " (attention bias)"));
                out.add(new Expected(p + "self_attn.k_proj.bias", new long[] {kv}, kvDim + " (attention bias)"));
                out.add(new Expected(p + "self_attn.v_proj.bias", new long[] {kv}, kvDim + " (attention bias)"));
            }
            if (c.outputBias()) {
                out.add(new Expected(p + "self_attn.o_proj.bias", new long[] {h}, hidden + " (attention_bias)"));
            }
            if (c.qkNorm()) {
                out.add(new Expected(p + "self_attn.q_norm.weight", new long[] {c.headDim()}, "head_dim (q/k norm)"));
                out.add(new Expected(p + "self_attn.k_norm.weight", new long[] {c.headDim()}, "head_dim (q/k norm)"));
            }
            out.add(new Expected(p + "post_attention_layernorm.weight", new long[] {h}, hidden));
            out.add(new Expected(p + "mlp.gate_proj.weight", new long[] {inter, h}, "intermediate_size, " + hidden));
            out.add(new Expected(p + "mlp.up_proj.weight", new long[] {inter, h}, "intermediate_size, " + hidden));
            out.add(new Expected(p + "mlp.down_proj.weight", new long[] {h, inter}, hidden + ", intermediate_size"));
        }
        return out;
    }

    private static void check(Expected e, Checkpoint weights, Path configFile) {
        if (!weights.contains(e.name)) {
            if (e.name.equals("lm_head.weight") && e.from.contains("optional")) {
                return;
            }
            throw new ModelFormatException(weightsFile(weights) + ": tensor '" + e.name + "' is missing; " + configFile
                    + " calls for it with shape " + Arrays.toString(e.shape) + " (" + e.from + ")");
        }
        Tensor t = weights.tensor(e.name);
        if (!Arrays.equals(t.shape(), e.shape)) {
            throw new ModelFormatException(weights.fileOf(e.name) + ": tensor '" + e.name + "' has shape "
                    + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(e.shape) + " (" + e.from + " in "
                    + configFile + ")");
        }
    }

    /**
     * Scans a sample of {@code t}'s elements for NaN and infinity (see the class comment for which).
     *
     * @return bytes read
     * @throws ModelFormatException naming the file, the tensor and the element
     */
    static long scanNonFinite(Tensor t, Path file) {
        if (!t.dtype().isFloatingPoint()) {
            return 0;
        }
        MemorySegment data = t.data();
        long bytes = data.byteSize();
        long whole = (long) SCAN_PIECES * SCAN_PIECE_BYTES;
        if (bytes <= whole) {
            scan(t, data, 0, bytes, file);
            return bytes;
        }
        int size = t.dtype().byteSize();
        long last = bytes - SCAN_PIECE_BYTES;
        for (int k = 0; k < SCAN_PIECES; k++) {
            // Evenly spaced from the first byte to the last piece, aligned to an element.
            long at = last / (SCAN_PIECES - 1) * k;
            if (k == SCAN_PIECES - 1) {
                at = last;
            }
            at -= at % size;
            scan(t, data, at, SCAN_PIECE_BYTES, file);
        }
        return whole;
    }

    /**
     * Scans {@code [from, from + length)} of {@code data}, copied a piece at a time into an array: a bulk
     * copy and a plain array loop run fast from the first call, before the JIT has compiled anything.
     */
    private static void scan(Tensor t, MemorySegment data, long from, long length, Path file) {
        int size = t.dtype().byteSize();
        if (t.dtype() == DType.F32) {
            int[] bits = new int[SCAN_PIECE_BYTES / 4];
            for (long at = from; at < from + length; at += SCAN_PIECE_BYTES) {
                int n = (int) Math.min(bits.length, (from + length - at) / size);
                MemorySegment.copy(data, I32, at, bits, 0, n);
                for (int i = 0; i < n; i++) {
                    if ((bits[i] & 0x7f80_0000) == 0x7f80_0000) {
                        throw nonFinite(t, at / 4 + i, Float.intBitsToFloat(bits[i]), file);
                    }
                }
            }
        } else if (t.dtype() == DType.BF16 || t.dtype() == DType.F16) {
            // BF16: 8 exponent bits at 0x7f80; F16: 5 at 0x7c00. All ones is infinity or NaN.
            int exponent = t.dtype() == DType.BF16 ? 0x7f80 : 0x7c00;
            short[] bits = new short[SCAN_PIECE_BYTES / 2];
            for (long at = from; at < from + length; at += SCAN_PIECE_BYTES) {
                int n = (int) Math.min(bits.length, (from + length - at) / size);
                MemorySegment.copy(data, I16, at, bits, 0, n);
                for (int i = 0; i < n; i++) {
                    if ((bits[i] & exponent) == exponent) {
                        float value = t.dtype() == DType.BF16 ? Float.intBitsToFloat((bits[i] & 0xffff) << 16)
                                : Float.float16ToFloat(bits[i]);
                        throw nonFinite(t, at / 2 + i, value, file);
                    }
                }
            }
        }
    }

    private static ModelFormatException nonFinite(Tensor t, long index, float value, Path file) {
        String where = "element " + index;
        if (t.rank() == 2 && t.dim(1) > 0) {
            where += " (row " + index / t.dim(1) + ", column " + index % t.dim(1) + ")";
        }
        return new ModelFormatException(file + ": tensor '" + t.name() + "' " + Arrays.toString(t.shape()) + " of "
                + t.dtype() + " holds " + value + " at " + where + "; weights must be finite numbers");
    }

    /** The file that lists the checkpoint's tensors: its single file, or the shards' index. */
    private static Path weightsFile(Checkpoint weights) {
        List<Path> files = weights.files();
        return files.size() == 1 ? files.getFirst() : weights.directory().resolve(Checkpoint.INDEX_FILE);
    }

    /** "layers 0..5" or "layers 0..2, 4, 7" (first ranges, at most a few numbers). */
    private static String describe(TreeMap<Long, String> found) {
        StringBuilder b = new StringBuilder("layers ");
        long runStart = -1;
        long previous = -2;
        int parts = 0;
        for (Map.Entry<Long, String> e : found.entrySet()) {
            long i = e.getKey();
            if (i != previous + 1) {
                if (runStart >= 0) {
                    b.append(parts++ == 0 ? "" : ", ").append(range(runStart, previous));
                }
                runStart = i;
                if (parts >= 4) {
                    return b.append(", ...").toString();
                }
            }
            previous = i;
        }
        return b.append(parts == 0 ? "" : ", ").append(range(runStart, previous)).toString();
    }

    private static String range(long from, long to) {
        return from == to ? Long.toString(from) : from + ".." + to;
    }
}
