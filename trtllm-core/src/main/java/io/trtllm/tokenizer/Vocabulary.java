package io.trtllm.tokenizer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The token strings and ids of a {@code tokenizer.json}: the model's vocabulary plus its
 * {@code added_tokens}. DJL's binding of the Rust tokenizer exposes neither {@code token_to_id} nor
 * the vocabulary size nor which tokens are special, so they are read here, once, with a streaming
 * parser that skips everything else (the merges of a BPE model are most of the file).
 */
final class Vocabulary {
    private final Map<String, Integer> tokenToId;
    private final BitSet specialIds;
    /** The model vocabulary's token strings by id (null where an id has none); added tokens are not here. */
    private final @Nullable String[] modelTokens;
    private final BitSet addedIds;
    private final TokenDecoding decoding;

    private Vocabulary(Map<String, Integer> tokenToId, BitSet specialIds, @Nullable String[] modelTokens, BitSet addedIds,
                       TokenDecoding decoding) {
        this.tokenToId = tokenToId;
        this.specialIds = specialIds;
        this.modelTokens = modelTokens;
        this.addedIds = addedIds;
        this.decoding = decoding;
    }

    /**
     * Reads the vocabulary of {@code json}, the bytes of {@code file}.
     *
     * @throws ModelFormatException naming {@code file} when it is not JSON or has no model vocabulary
     */
    static Vocabulary parse(byte[] json, Path file) {
        Map<String, Integer> modelVocab = null;
        Map<String, Integer> added = new HashMap<>();
        BitSet special = new BitSet();
        TokenDecoding decoding = TokenDecoding.UNKNOWN;
        try (JsonParser p = new JsonFactory().createParser(json)) {
            expect(p.nextToken(), JsonToken.START_OBJECT, file, "top level");
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken value = p.nextToken();
                if ("model".equals(field) && value == JsonToken.START_OBJECT) {
                    modelVocab = readModelVocab(p, file);
                } else if ("added_tokens".equals(field) && value == JsonToken.START_ARRAY) {
                    readAddedTokens(p, file, added, special);
                } else if ("decoder".equals(field) && value == JsonToken.START_OBJECT) {
                    decoding = TokenDecoding.of(DECODER_READER.readTree(p));
                } else {
                    p.skipChildren();
                }
            }
        } catch (IOException e) {
            throw new ModelFormatException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (modelVocab == null) {
            throw new ModelFormatException(file + ": no model.vocab; is this a Hugging Face tokenizer.json?");
        }
        int limit = 0;
        for (int id : modelVocab.values()) {
            limit = Math.max(limit, id + 1);
        }
        @Nullable String[] modelTokens = new String[limit];
        modelVocab.forEach((token, id) -> {
            if (id >= 0) {
                modelTokens[id] = token;
            }
        });
        BitSet addedIds = new BitSet();
        added.values().forEach(addedIds::set);
        // Hugging Face's get_vocab(with_added_tokens=True): added tokens win over model entries of the same string.
        modelVocab.putAll(added);
        return new Vocabulary(modelVocab, special, modelTokens, addedIds, decoding);
    }

    private static final ObjectMapper DECODER_READER = new ObjectMapper();

    /** Size of the vocabulary including added tokens, as {@code get_vocab_size(with_added_tokens=True)}. */
    int size() {
        return tokenToId.size();
    }

    @Nullable Integer tokenToId(String token) {
        return tokenToId.get(token);
    }

    /** Whether {@code id} is an added token marked {@code special}: those are what {@code skip_special_tokens} drops. */
    boolean isSpecial(int id) {
        return id >= 0 && specialIds.get(id);
    }

    /**
     * The bytes token {@code id} adds to decoded text, or null when it is an added token (whose text is
     * its literal content, special or not) or no token at all.
     *
     * @throws UnsupportedOperationException when the tokenizer's decoder is not one whose per-token bytes
     *                                       are known (byte-level BPE, SentencePiece / Metaspace)
     */
    byte @Nullable [] tokenBytes(int id) {
        if (id < 0 || id >= modelTokens.length || addedIds.get(id) || modelTokens[id] == null) {
            return null;
        }
        return decoding.bytes(modelTokens[id]);
    }

    /** Whether decoding drops one leading space of the decoded text (SentencePiece's {@code Strip}). */
    boolean decodeStripsLeadingSpace() {
        return decoding.stripsLeadingSpace();
    }

    private static @Nullable Map<String, Integer> readModelVocab(JsonParser p, Path file) throws IOException {
        Map<String, Integer> vocab = null;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken value = p.nextToken();
            if ("vocab".equals(field) && value == JsonToken.START_OBJECT) {
                // BPE, WordPiece, WordLevel: {"token": id, ...}
                vocab = new HashMap<>(1 << 17);
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String token = p.currentName();
                    expect(p.nextToken(), JsonToken.VALUE_NUMBER_INT, file, "model.vocab[\"" + token + "\"]");
                    vocab.put(token, p.getIntValue());
                }
            } else if ("vocab".equals(field) && value == JsonToken.START_ARRAY) {
                // Unigram: [["piece", score], ...]; the id is the position.
                vocab = new HashMap<>(1 << 17);
                int id = 0;
                while (p.nextToken() == JsonToken.START_ARRAY) {
                    expect(p.nextToken(), JsonToken.VALUE_STRING, file, "model.vocab[" + id + "]");
                    vocab.put(p.getText(), id++);
                    while (p.nextToken() != JsonToken.END_ARRAY) {
                        p.skipChildren();
                    }
                }
            } else {
                p.skipChildren();
            }
        }
        return vocab;
    }

    private static void readAddedTokens(JsonParser p, Path file, Map<String, Integer> added, BitSet special)
            throws IOException {
        int index = 0;
        while (p.nextToken() == JsonToken.START_OBJECT) {
            Integer id = null;
            String content = null;
            boolean isSpecial = false;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken value = p.nextToken();
                switch (field) {
                    case "id" -> id = value == JsonToken.VALUE_NUMBER_INT ? p.getIntValue() : null;
                    case "content" -> content = value == JsonToken.VALUE_STRING ? p.getText() : null;
                    case "special" -> isSpecial = value == JsonToken.VALUE_TRUE;
                    default -> p.skipChildren();
                }
            }
            if (id == null || content == null || id < 0) {
                throw new ModelFormatException(file + ": added_tokens[" + index + "] needs an integer id >= 0 and a content string");
            }
            added.put(content, id);
            if (isSpecial) {
                special.set(id);
            }
            index++;
        }
    }

    private static void expect(@Nullable JsonToken actual, JsonToken expected, Path file, String where) {
        if (actual != expected) {
            throw new ModelFormatException(file + ": expected " + expected + " at " + where + ", found " + actual);
        }
    }
}
