package io.trtllm.model.builtin;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.model.ModelFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Turns a llama2.c {@code tokenizer.bin} of the Llama-2 SentencePiece vocabulary into the
 * Hugging Face files of the Llama-2 tokenizer ({@code tokenizer.json},
 * {@code tokenizer_config.json}), so the demo model is tokenized by the same HF tokenizers code
 * as every other model.
 *
 * <p>{@code tokenizer.bin}: int32 {@code max_token_length}, then per token: float32 score, int32
 * byte length, UTF-8 bytes (all little-endian). llama2.c's exporter changed pieces on the way
 * out, which is undone here: {@code ▁} (U+2581) was written as a space, BOS/EOS as
 * {@code "\n<s>\n"}/{@code "\n</s>\n"}, and the byte-fallback pieces {@code <0x00>..<0xFF>}
 * (ids 3..258) as the characters U+0000..U+00FF.
 */
public final class Llama2cTokenizerConverter {
    static final String SPACE_PIECE = "\u2581";

    static final String UNK = "<unk>";

    static final String BOS = "<s>";

    static final String EOS = "</s>";

    /** First id after {@code <unk>, <s>, </s>} and the 256 byte pieces. */
    private static final int FIRST_NORMAL_ID = 3 + 256;

    private static final ObjectMapper JSON = new ObjectMapper();

    private Llama2cTokenizerConverter() {
    }

    /** Pieces by id in SentencePiece form, with their scores. */
    public record Vocabulary(List<String> pieces, float[] scores) {
        public Vocabulary {
            pieces = List.copyOf(pieces);
            if (pieces.size() != scores.length) {
                throw new IllegalArgumentException(pieces.size() + " pieces but " + scores.length + " scores");
            }
        }

        public int size() {
            return pieces.size();
        }
    }

    /**
     * Parses {@code tokenizer.bin} for a vocabulary of {@code vocabSize} pieces (the model header
     * says how many; the file does not).
     */
    public static Vocabulary read(ByteBuffer tokenizerBin, int vocabSize) {
        if (vocabSize < FIRST_NORMAL_ID) {
            throw new ModelFormatException("tokenizer.bin: vocabulary of " + vocabSize
                    + " pieces cannot be Llama-2's (needs <unk>, <s>, </s> and 256 byte pieces)");
        }
        ByteBuffer in = tokenizerBin.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        List<String> pieces = new ArrayList<>(vocabSize);
        float[] scores = new float[vocabSize];
        try {
            int maxTokenLength = in.getInt();
            for (int id = 0; id < vocabSize; id++) {
                scores[id] = in.getFloat();
                int len = in.getInt();
                if (len < 0 || len > maxTokenLength || len > in.remaining()) {
                    throw new ModelFormatException("tokenizer.bin: token " + id + " has length " + len
                            + " (max_token_length " + maxTokenLength + ", " + in.remaining() + " bytes left)");
                }
                ByteBuffer bytes = in.slice(in.position(), len);
                in.position(in.position() + len);
                String raw;
                try {
                    raw = utf8.decode(bytes).toString();
                } catch (CharacterCodingException e) {
                    throw new ModelFormatException("tokenizer.bin: token " + id + " is not valid UTF-8", e);
                }
                pieces.add(unexport(id, raw));
            }
        } catch (BufferUnderflowException e) {
            throw new ModelFormatException("tokenizer.bin: ends before token " + pieces.size() + " of " + vocabSize, e);
        }
        if (in.hasRemaining()) {
            throw new ModelFormatException("tokenizer.bin: " + in.remaining() + " bytes left after " + vocabSize + " tokens");
        }
        return new Vocabulary(pieces, scores);
    }

    /** The SentencePiece piece that llama2.c's exporter wrote as {@code raw}. */
    private static String unexport(int id, String raw) {
        String expected = switch (id) {
            case 0 -> UNK;
            case 1 -> "\n" + BOS + "\n";
            case 2 -> "\n" + EOS + "\n";
            default -> id < FIRST_NORMAL_ID ? String.valueOf((char) (id - 3)) : null;
        };
        if (expected != null && !expected.equals(raw)) {
            throw new ModelFormatException("tokenizer.bin: token " + id + " is " + CharBuffer.wrap(raw).chars()
                    .mapToObj(c -> String.format("U+%04X", c)).toList()
                    + ", not what llama2.c writes for the Llama-2 vocabulary; this is not a Llama-2 tokenizer");
        }
        return switch (id) {
            case 0 -> UNK;
            case 1 -> BOS;
            case 2 -> EOS;
            default -> id < FIRST_NORMAL_ID
                    ? "<0x" + HexFormat.of().withUpperCase().toHexDigits((byte) (id - 3)) + ">"
                    : raw.replace(" ", SPACE_PIECE);
        };
    }

    /** Writes {@code tokenizer.json} and {@code tokenizer_config.json} into {@code outDir}. */
    public static void write(Vocabulary vocab, Path outDir, int modelMaxLength) {
        write(outDir.resolve("tokenizer.json"), tokenizerJson(vocab));
        write(outDir.resolve("tokenizer_config.json"), tokenizerConfig(modelMaxLength));
    }

    /** The Hugging Face {@code tokenizer.json} of the Llama-2 tokenizer, for {@code vocab}. */
    static ObjectNode tokenizerJson(Vocabulary vocab) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        String[] specials = {UNK, BOS, EOS};
        for (int id = 0; id < specials.length; id++) {
            ObjectNode t = added.addObject();
            t.put("id", id);
            t.put("content", specials[id]);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }

        // SentencePiece's normalization for Llama: a space in front ("add_dummy_prefix"), spaces as ▁.
        ObjectNode normalizer = root.putObject("normalizer");
        normalizer.put("type", "Sequence");
        ArrayNode normalizers = normalizer.putArray("normalizers");
        normalizers.addObject().put("type", "Prepend").put("prepend", SPACE_PIECE);
        ObjectNode replace = normalizers.addObject().put("type", "Replace");
        replace.putObject("pattern").put("String", " ");
        replace.put("content", SPACE_PIECE);
        root.putNull("pre_tokenizer");

        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        ArrayNode single = post.putArray("single");
        special(single, BOS, 0);
        sequence(single, "A", 0);
        ArrayNode pair = post.putArray("pair");
        special(pair, BOS, 0);
        sequence(pair, "A", 0);
        special(pair, BOS, 1);
        sequence(pair, "B", 1);
        ObjectNode bos = post.putObject("special_tokens").putObject(BOS);
        bos.put("id", BOS);
        bos.putArray("ids").add(vocab.pieces().indexOf(BOS));
        bos.putArray("tokens").add(BOS);

        ObjectNode decoder = root.putObject("decoder");
        decoder.put("type", "Sequence");
        ArrayNode decoders = decoder.putArray("decoders");
        ObjectNode unspace = decoders.addObject().put("type", "Replace");
        unspace.putObject("pattern").put("String", SPACE_PIECE);
        unspace.put("content", " ");
        decoders.addObject().put("type", "ByteFallback");
        decoders.addObject().put("type", "Fuse");
        decoders.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);

        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.put("unk_token", UNK);
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", true);
        model.put("byte_fallback", true);
        ObjectNode vocabNode = model.putObject("vocab");
        for (int id = 0; id < vocab.size(); id++) {
            vocabNode.put(vocab.pieces().get(id), id);
        }
        // "left right" strings, as in Llama-2's own tokenizer.json; unambiguous because no piece
        // contains a space (SentencePiece writes it as ▁).
        ArrayNode merges = model.putArray("merges");
        for (SentencePieceMerges.Merge m : SentencePieceMerges.derive(vocab.pieces(), vocab.scores())) {
            merges.add(m.left() + " " + m.right());
        }
        return root;
    }

    /** {@code tokenizer_config.json} as Llama-2 ships it: BOS added, no EOS, no chat template. */
    static ObjectNode tokenizerConfig(int modelMaxLength) {
        ObjectNode c = JSON.createObjectNode();
        c.put("add_bos_token", true);
        c.put("add_eos_token", false);
        c.put("bos_token", BOS);
        c.put("eos_token", EOS);
        c.put("unk_token", UNK);
        c.putNull("pad_token");
        c.put("clean_up_tokenization_spaces", false);
        c.put("model_max_length", modelMaxLength);
        c.put("tokenizer_class", "LlamaTokenizer");
        return c;
    }

    private static void special(ArrayNode template, String token, int typeId) {
        template.addObject().putObject("SpecialToken").put("id", token).put("type_id", typeId);
    }

    private static void sequence(ArrayNode template, String id, int typeId) {
        template.addObject().putObject("Sequence").put("id", id).put("type_id", typeId);
    }

    private static void write(Path file, ObjectNode json) {
        try {
            JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), json);
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + file + ": " + e.getMessage(), e);
        }
    }
}
