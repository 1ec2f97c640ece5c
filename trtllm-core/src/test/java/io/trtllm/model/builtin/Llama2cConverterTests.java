package io.trtllm.model.builtin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelFormatException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2cConverterTests {

    @Test
    void permutationMovesInterleavedPairsToHalves() {
        // 2 heads of head_dim 6, one column holding the old row index.
        float[] w = new float[12];
        for (int r = 0; r < w.length; r++) {
            w[r] = r;
        }
        float[] p = Llama2cConverter.permuteForRotateHalf(w, 2, 1);
        // Per head: real parts of pairs 0,1,2 (old rows 0,2,4), then imaginary parts (1,3,5).
        assertThat(p).containsExactly(0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11);
    }

    @Test
    void permutationEqualsReshapeTransposeReshape() {
        int heads = 3;
        int headDim = 8;
        int cols = 5;
        int half = headDim / 2;
        float[] w = new float[heads * headDim * cols];
        Random rnd = new Random(7);
        for (int i = 0; i < w.length; i++) {
            w[i] = rnd.nextInt(1000);
        }
        // w.view(heads, half, 2, cols).transpose(1, 2).reshape(heads*headDim, cols), element by element:
        // the result has shape (heads, 2, half, cols); element [h][i][j][c] is source [h][j][i][c].
        float[] expected = new float[w.length];
        int k = 0;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < 2; i++) {
                for (int j = 0; j < half; j++) {
                    for (int c = 0; c < cols; c++) {
                        expected[k++] = w[((h * half + j) * 2 + i) * cols + c];
                    }
                }
            }
        }
        assertThat(Llama2cConverter.permuteForRotateHalf(w, heads, cols)).containsExactly(expected);
    }

    @Test
    void permutedProjectionUnderRotateHalfRopeEqualsOriginalUnderInterleavedRope() {
        int dim = 16;
        int heads = 2;
        int headDim = dim / heads;
        Random rnd = new Random(42);
        float[] wq = randoms(rnd, dim * dim);
        float[] x = randoms(rnd, dim);
        float[] permuted = Llama2cConverter.permuteForRotateHalf(wq, heads, dim);
        for (int pos : new int[] {0, 1, 7, 100}) {
            float[] llama2c = ropeInterleaved(matVec(wq, x, dim), headDim, pos);
            float[] hf = ropeRotateHalf(matVec(permuted, x, dim), headDim, pos);
            for (int h = 0; h < heads; h++) {
                for (int j = 0; j < headDim / 2; j++) {
                    for (int i = 0; i < 2; i++) {
                        assertThat(hf[h * headDim + i * headDim / 2 + j])
                                .isCloseTo(llama2c[h * headDim + 2 * j + i], within(1e-4f));
                    }
                }
            }
        }
    }

    @Test
    void convertsTinyCheckpointWithSeparateClassifier(@TempDir Path dir) throws IOException {
        // dim 8, hidden 12, 2 layers, 2 heads, 1 kv head (GQA), vocab 10 (negative: own classifier), seq 4.
        MemorySegment bin = tinyModelBin(8, 12, 2, 2, 1, -10, 4);
        Llama2cConverter.Header h = Llama2cConverter.convert(bin, dir);
        assertThat(h.vocabSize()).isEqualTo(10);
        assertThat(h.sharedClassifier()).isFalse();

        JsonNode config = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        assertThat(config.get("hidden_size").asInt()).isEqualTo(8);
        assertThat(config.get("intermediate_size").asInt()).isEqualTo(12);
        assertThat(config.get("num_key_value_heads").asInt()).isEqualTo(1);
        assertThat(config.get("max_position_embeddings").asInt()).isEqualTo(4);
        assertThat(config.get("tie_word_embeddings").asBoolean()).isFalse();
        ModelConfig mc = ModelConfig.load(dir);
        assertThat(mc.headDim()).isEqualTo(4);

        SafeTensorsFile st = SafeTensorsFile.open(dir.resolve("model.safetensors"));
        assertThat(st.metadata()).containsEntry("format", "pt");
        assertThat(st.tensors()).hasSize(2 + 2 * 9 + 1);
        // Every value in the tiny file is its own float index after the header, so each tensor
        // shows where it was read from.
        long emb = 0;
        long rmsAtt = emb + 10 * 8;
        long wq = rmsAtt + 2 * 8;
        long wk = wq + 2 * 64;
        long wv = wk + 2 * 32;
        long wo = wv + 2 * 32;
        long rmsFfn = wo + 2 * 64;
        long w1 = rmsFfn + 2 * 8;
        long w2 = w1 + 2 * 96;
        long w3 = w2 + 2 * 96;
        long rmsFinal = w3 + 2 * 96;
        long wcls = rmsFinal + 8 + 4 * 4;
        assertThat(st.row("model.embed_tokens.weight", 3)[0]).isEqualTo(emb + 3 * 8);
        assertThat(st.row("model.layers.1.input_layernorm.weight", 0)[0]).isEqualTo(rmsAtt + 8);
        // q row 1 of head 1 (= j 1, i 0) is the real part of pair 1: old row 4 + 2.
        assertThat(st.row("model.layers.1.self_attn.q_proj.weight", 4 + 1)[0]).isEqualTo(wq + 64 + (4 + 2) * 8);
        // k (one kv head, head_dim 4): new row 2 (i 1, j 0) is old row 1.
        assertThat(st.tensors().get("model.layers.0.self_attn.k_proj.weight").shape()).containsExactly(4, 8);
        assertThat(st.row("model.layers.0.self_attn.k_proj.weight", 2)[0]).isEqualTo(wk + 8);
        assertThat(st.row("model.layers.1.self_attn.v_proj.weight", 3)[0]).isEqualTo(wv + 32 + 3 * 8);
        assertThat(st.row("model.layers.0.self_attn.o_proj.weight", 5)[0]).isEqualTo(wo + 5 * 8);
        assertThat(st.row("model.layers.1.post_attention_layernorm.weight", 0)[0]).isEqualTo(rmsFfn + 8);
        assertThat(st.row("model.layers.1.mlp.gate_proj.weight", 0)[0]).isEqualTo(w1 + 96);
        assertThat(st.row("model.layers.1.mlp.down_proj.weight", 0)[0]).isEqualTo(w2 + 96);
        assertThat(st.tensors().get("model.layers.1.mlp.down_proj.weight").shape()).containsExactly(8, 12);
        assertThat(st.row("model.layers.1.mlp.up_proj.weight", 0)[0]).isEqualTo(w3 + 96);
        assertThat(st.row("model.norm.weight", 0)[7]).isEqualTo(rmsFinal + 7);
        assertThat(st.row("lm_head.weight", 9)[0]).isEqualTo(wcls + 9 * 8);
    }

    @Test
    void sharedClassifierIsTiedAndNotWritten(@TempDir Path dir) throws IOException {
        Llama2cConverter.convert(tinyModelBin(8, 12, 1, 2, 2, 10, 4), dir);
        assertThat(ModelConfig.load(dir).tieWordEmbeddings()).isTrue();
        assertThat(SafeTensorsFile.open(dir.resolve("model.safetensors")).tensors()).doesNotContainKey("lm_head.weight");
    }

    @Test
    void rejectsFileWhoseSizeDisagreesWithHeader() {
        MemorySegment bin = tinyModelBin(8, 12, 1, 2, 2, 10, 4);
        assertThatThrownBy(() -> Llama2cConverter.readHeader(bin.asSlice(0, bin.byteSize() - 4)))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("implies " + bin.byteSize());
        MemorySegment bad = tinyModelBin(9, 12, 1, 2, 2, 10, 4);
        assertThatThrownBy(() -> Llama2cConverter.readHeader(bad)).hasMessageContaining("even head size");
    }

    /** A model.bin whose i-th float after the header has the value i. */
    static MemorySegment tinyModelBin(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seqLen) {
        long floats;
        try {
            floats = (new Llama2cConverter.Header(dim, hidden, layers, heads, kvHeads, Math.abs(vocab), vocab > 0, seqLen)
                    .fileBytes() - 28) / 4;
        } catch (ModelFormatException e) {
            floats = 1000; // invalid headers: any body
        }
        ByteBuffer b = ByteBuffer.allocate((int) (28 + floats * 4)).order(ByteOrder.LITTLE_ENDIAN);
        IntStream.of(dim, hidden, layers, heads, kvHeads, vocab, seqLen).forEach(b::putInt);
        for (int i = 0; i < floats; i++) {
            b.putFloat(i);
        }
        return MemorySegment.ofArray(b.array());
    }

    private static float[] randoms(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }

    private static float[] matVec(float[] w, float[] x, int cols) {
        float[] out = new float[w.length / cols];
        for (int r = 0; r < out.length; r++) {
            for (int c = 0; c < cols; c++) {
                out[r] += w[r * cols + c] * x[c];
            }
        }
        return out;
    }

    /** llama2.c run.c: rotate pairs (2j, 2j+1) of each head by pos * 10000^(-2j/headDim). */
    private static float[] ropeInterleaved(float[] v, int headDim, int pos) {
        float[] out = v.clone();
        for (int i = 0; i < v.length; i += 2) {
            double angle = pos / Math.pow(10000, (i % headDim) / (double) headDim);
            out[i] = (float) (v[i] * Math.cos(angle) - v[i + 1] * Math.sin(angle));
            out[i + 1] = (float) (v[i] * Math.sin(angle) + v[i + 1] * Math.cos(angle));
        }
        return out;
    }

    /** HF Llama apply_rotary_pos_emb: rotate (j, j + headDim/2) of each head by pos * 10000^(-2j/headDim). */
    private static float[] ropeRotateHalf(float[] v, int headDim, int pos) {
        float[] out = v.clone();
        int half = headDim / 2;
        for (int h = 0; h < v.length; h += headDim) {
            for (int j = 0; j < half; j++) {
                double angle = pos / Math.pow(10000, 2.0 * j / headDim);
                float a = v[h + j];
                float b = v[h + j + half];
                out[h + j] = (float) (a * Math.cos(angle) - b * Math.sin(angle));
                out[h + j + half] = (float) (b * Math.cos(angle) + a * Math.sin(angle));
            }
        }
        return out;
    }
}
