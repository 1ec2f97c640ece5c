package io.trtllm.model.builtin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.model.ModelFormatException;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class Llama2cTokenizerConverterTests {

    @Test
    void undoesWhatLlama2csExporterChanged() {
        List<String> raw = llamaLikeRaw();
        raw.add(" t");
        raw.add("  ");
        Llama2cTokenizerConverter.Vocabulary v = Llama2cTokenizerConverter.read(tokenizerBin(raw), raw.size());
        assertThat(v.pieces().subList(0, 3)).containsExactly("<unk>", "<s>", "</s>");
        assertThat(v.pieces().get(3)).isEqualTo("<0x00>");
        assertThat(v.pieces().get(3 + 0x0A)).isEqualTo("<0x0A>");
        assertThat(v.pieces().get(258)).isEqualTo("<0xFF>");
        assertThat(v.pieces().subList(259, 261)).containsExactly("\u2581t", "\u2581\u2581");
        assertThat(v.scores()[259]).isEqualTo(-259f);
    }

    @Test
    void rejectsAVocabularyThatIsNotLlama2s() {
        List<String> raw = llamaLikeRaw();
        raw.set(1, "<s>"); // llama2.c writes "\n<s>\n" for Llama-2's BOS
        assertThatThrownBy(() -> Llama2cTokenizerConverter.read(tokenizerBin(raw), raw.size()))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("token 1");
    }

    @Test
    void rejectsTruncatedFile() {
        List<String> raw = llamaLikeRaw();
        assertThatThrownBy(() -> Llama2cTokenizerConverter.read(tokenizerBin(raw), raw.size() + 1))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("ends before token 259");
    }

    /** The first 259 pieces as llama2.c exports the Llama-2 vocabulary. */
    private static List<String> llamaLikeRaw() {
        List<String> raw = new ArrayList<>(List.of("<unk>", "\n<s>\n", "\n</s>\n"));
        for (int b = 0; b < 256; b++) {
            raw.add(String.valueOf((char) b));
        }
        return raw;
    }

    private static ByteBuffer tokenizerBin(List<String> pieces) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        out.write(b.putInt(0, 27).array(), 0, 4);
        for (int id = 0; id < pieces.size(); id++) {
            byte[] bytes = pieces.get(id).getBytes(StandardCharsets.UTF_8);
            b.clear();
            b.putFloat(id < 259 ? 0 : -id).putInt(bytes.length);
            out.writeBytes(b.array());
            out.writeBytes(bytes);
        }
        return ByteBuffer.wrap(out.toByteArray());
    }
}
