package io.trtllm.model.builtin;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.SafeTensorsWriter;
import io.trtllm.model.SafeTensorsWriter.LazyEntry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Converts a llama2.c checkpoint ({@code model.bin}, the format of Karpathy's {@code run.c}) into
 * a Hugging Face Llama checkpoint: {@code config.json}, {@code generation_config.json} and
 * {@code model.safetensors} (F32). The result loads in HF transformers as
 * {@code LlamaForCausalLM} and in our own loader, so the builtin demo model goes through the same
 * code path as any downloaded model.
 *
 * <p>Layout of {@code model.bin}: seven little-endian int32 ({@code dim, hidden_dim, n_layers,
 * n_heads, n_kv_heads, vocab_size, seq_len}; a negative {@code vocab_size} means the classifier
 * is stored separately at the end), then F32 arrays in this order:
 * <pre>
 * token_embedding [vocab, dim]
 * rms_att         [L, dim]
 * wq              [L, dim, dim]        (out, in) like torch.nn.Linear
 * wk, wv          [L, kv_dim, dim]
 * wo              [L, dim, dim]
 * rms_ffn         [L, dim]
 * w1, w2, w3      [L, hidden, dim], [L, dim, hidden], [L, hidden, dim]
 * rms_final       [dim]
 * freq_cis        [seq_len, head_dim/2] twice (legacy RoPE tables; skipped)
 * wcls            [vocab, dim]         only when vocab_size was negative
 * </pre>
 * Only one tensor at a time is held on the heap; the input is read from a (mapped) segment.
 */
public final class Llama2cConverter {
    /** run.c and llama2.c's model.py hard-code these; they are not in the header. */
    static final double RMS_NORM_EPS = 1e-5;

    static final double ROPE_THETA = 10000.0;

    /** llama2.c's tokenizers (Llama-2's SentencePiece vocabulary) use BOS 1 and EOS 2; run.c hard-codes them. */
    static final int BOS_ID = 1;

    static final int EOS_ID = 2;

    private static final int HEADER_BYTES = 7 * Integer.BYTES;

    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final ObjectMapper JSON = new ObjectMapper();

    private Llama2cConverter() {
    }

    /**
     * The {@code model.bin} header.
     *
     * @param sharedClassifier whether the LM head is the embedding (the header's vocab size was positive)
     */
    public record Header(int dim, int hiddenDim, int layers, int heads, int kvHeads, int vocabSize,
                         boolean sharedClassifier, int seqLen) {
        public Header {
            positive("dim", dim);
            positive("hidden_dim", hiddenDim);
            positive("n_layers", layers);
            positive("n_heads", heads);
            positive("n_kv_heads", kvHeads);
            positive("vocab_size", vocabSize);
            positive("seq_len", seqLen);
            if (dim % heads != 0 || (dim / heads) % 2 != 0) {
                throw new ModelFormatException("model.bin: dim " + dim + " is not n_heads " + heads
                        + " times an even head size");
            }
            if (heads % kvHeads != 0) {
                throw new ModelFormatException("model.bin: n_heads " + heads + " is not a multiple of n_kv_heads " + kvHeads);
            }
        }

        public int headDim() {
            return dim / heads;
        }

        public int kvDim() {
            return kvHeads * headDim();
        }

        /** Size in bytes of a {@code model.bin} with this header, RoPE tables and (unshared) classifier included. */
        public long fileBytes() {
            long l = layers;
            long floats = (long) vocabSize * dim // token_embedding
                    + l * dim // rms_att
                    + l * dim * dim * 2 // wq, wo
                    + l * kvDim() * dim * 2 // wk, wv
                    + l * dim // rms_ffn
                    + l * hiddenDim * dim * 3 // w1, w2, w3
                    + dim // rms_final
                    + (long) seqLen * headDim() // freq_cis_real + freq_cis_imag
                    + (sharedClassifier ? 0 : (long) vocabSize * dim);
            return HEADER_BYTES + floats * Float.BYTES;
        }

        private static void positive(String name, int value) {
            if (value <= 0) {
                throw new ModelFormatException("model.bin: header field " + name + " is " + value + ", expected > 0");
            }
        }
    }

    /** Reads and checks the header; the segment must be exactly one {@code model.bin}. */
    public static Header readHeader(MemorySegment modelBin) {
        if (modelBin.byteSize() < HEADER_BYTES) {
            throw new ModelFormatException("model.bin: " + modelBin.byteSize() + " bytes, too short for a llama2.c header");
        }
        int[] h = new int[7];
        for (int i = 0; i < h.length; i++) {
            h[i] = modelBin.get(I32, (long) i * Integer.BYTES);
        }
        Header header = new Header(h[0], h[1], h[2], h[3], h[4], Math.abs(h[5]), h[5] > 0, h[6]);
        if (header.fileBytes() != modelBin.byteSize()) {
            throw new ModelFormatException("model.bin: " + modelBin.byteSize() + " bytes, but its header " + header
                    + " implies " + header.fileBytes());
        }
        return header;
    }

    /**
     * Writes {@code config.json}, {@code generation_config.json} and {@code model.safetensors} for
     * {@code modelBin} into {@code outDir} (which must exist).
     *
     * @return the header that was read
     */
    public static Header convert(MemorySegment modelBin, Path outDir) {
        Header h = readHeader(modelBin);
        writeJson(outDir.resolve("config.json"), config(h));
        ObjectNode generation = JSON.createObjectNode();
        generation.put("bos_token_id", BOS_ID);
        generation.put("eos_token_id", EOS_ID);
        writeJson(outDir.resolve("generation_config.json"), generation);
        SafeTensorsWriter.writeF32Lazy(outDir.resolve("model.safetensors"), tensors(modelBin, h),
                Map.of("format", "pt"));
        return h;
    }

    /** Hugging Face {@code config.json} of a {@code LlamaForCausalLM} with this header's shape. */
    static ObjectNode config(Header h) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("LlamaForCausalLM");
        c.put("model_type", "llama");
        c.put("hidden_size", h.dim());
        c.put("intermediate_size", h.hiddenDim());
        c.put("num_hidden_layers", h.layers());
        c.put("num_attention_heads", h.heads());
        c.put("num_key_value_heads", h.kvHeads());
        c.put("vocab_size", h.vocabSize());
        c.put("max_position_embeddings", h.seqLen());
        c.put("rms_norm_eps", RMS_NORM_EPS);
        c.put("rope_theta", ROPE_THETA);
        c.put("tie_word_embeddings", h.sharedClassifier());
        c.put("bos_token_id", BOS_ID);
        c.put("eos_token_id", EOS_ID);
        c.put("hidden_act", "silu");
        c.put("attention_bias", false);
        c.put("torch_dtype", "float32");
        return c;
    }

    /**
     * The checkpoint's tensors in Hugging Face names, each read (and, for q/k, permuted) only when
     * the writer asks for it.
     */
    static List<LazyEntry> tensors(MemorySegment in, Header h) {
        long dim = h.dim();
        long kvDim = h.kvDim();
        long hidden = h.hiddenDim();
        long layers = h.layers();
        // Float offsets of each array, in file order.
        long embedding = 0;
        long rmsAtt = embedding + h.vocabSize() * dim;
        long wq = rmsAtt + layers * dim;
        long wk = wq + layers * dim * dim;
        long wv = wk + layers * kvDim * dim;
        long wo = wv + layers * kvDim * dim;
        long rmsFfn = wo + layers * dim * dim;
        long w1 = rmsFfn + layers * dim;
        long w2 = w1 + layers * hidden * dim;
        long w3 = w2 + layers * dim * hidden;
        long rmsFinal = w3 + layers * hidden * dim;
        long wcls = rmsFinal + dim + (long) h.seqLen() * h.headDim();

        List<LazyEntry> out = new ArrayList<>();
        out.add(entry(in, "model.embed_tokens.weight", embedding, h.vocabSize(), dim));
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            out.add(entry(in, p + "input_layernorm.weight", rmsAtt + l * dim, dim));
            int layer = l;
            out.add(new LazyEntry(p + "self_attn.q_proj.weight", new long[] {dim, dim},
                    () -> permuteForRotateHalf(read(in, wq + layer * dim * dim, dim * dim), h.heads(), h.dim())));
            out.add(new LazyEntry(p + "self_attn.k_proj.weight", new long[] {kvDim, dim},
                    () -> permuteForRotateHalf(read(in, wk + layer * kvDim * dim, kvDim * dim), h.kvHeads(), h.dim())));
            out.add(entry(in, p + "self_attn.v_proj.weight", wv + l * kvDim * dim, kvDim, dim));
            out.add(entry(in, p + "self_attn.o_proj.weight", wo + l * dim * dim, dim, dim));
            out.add(entry(in, p + "post_attention_layernorm.weight", rmsFfn + l * dim, dim));
            out.add(entry(in, p + "mlp.gate_proj.weight", w1 + l * hidden * dim, hidden, dim));
            out.add(entry(in, p + "mlp.up_proj.weight", w3 + l * hidden * dim, hidden, dim));
            out.add(entry(in, p + "mlp.down_proj.weight", w2 + l * dim * hidden, dim, hidden));
        }
        out.add(entry(in, "model.norm.weight", rmsFinal, dim));
        if (!h.sharedClassifier()) {
            out.add(entry(in, "lm_head.weight", wcls, h.vocabSize(), dim));
        }
        return out;
    }

    /**
     * Reorders the rows of a q or k projection ({@code [heads * headDim, cols]}) from llama2.c's
     * RoPE layout, which rotates interleaved pairs (0,1), (2,3), ..., to Hugging Face's, which
     * rotates the two halves of each head (i, i + headDim/2). Same as HF's
     * {@code convert_llama_weights_to_hf.py}:
     * {@code w.view(heads, headDim/2, 2, cols).transpose(1, 2).reshape(heads*headDim, cols)}, i.e.
     * new row {@code h*headDim + i*headDim/2 + j} is old row {@code h*headDim + 2*j + i}
     * ({@code i} in {0, 1}: real and imaginary part of pair {@code j}).
     */
    static float[] permuteForRotateHalf(float[] w, int heads, int cols) {
        int rows = w.length / cols;
        if ((long) rows * cols != w.length || rows % heads != 0 || (rows / heads) % 2 != 0) {
            throw new IllegalArgumentException(w.length + " values are not " + heads + " heads of an even number of rows of "
                    + cols);
        }
        int headDim = rows / heads;
        int half = headDim / 2;
        float[] out = new float[w.length];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < 2; i++) {
                for (int j = 0; j < half; j++) {
                    int from = h * headDim + 2 * j + i;
                    int to = h * headDim + i * half + j;
                    System.arraycopy(w, from * cols, out, to * cols, cols);
                }
            }
        }
        return out;
    }

    private static LazyEntry entry(MemorySegment in, String name, long floatOffset, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        long count = n;
        return new LazyEntry(name, shape, () -> read(in, floatOffset, count));
    }

    private static float[] read(MemorySegment in, long floatOffset, long count) {
        if (count > Integer.MAX_VALUE - 8) {
            throw new ModelFormatException("model.bin: tensor of " + count + " values is too large for this converter");
        }
        return in.asSlice(HEADER_BYTES + floatOffset * Float.BYTES, count * Float.BYTES).toArray(F32);
    }

    private static void writeJson(Path file, Object value) {
        try {
            JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), value);
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + file + ": " + e.getMessage(), e);
        }
    }
}
