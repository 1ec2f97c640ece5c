package io.trtllm.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.LibUtils;
import io.trtllm.api.config.ChatMessage;
import io.trtllm.model.ModelFormatException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Hugging Face tokenizer ({@code tokenizer.json}, through DJL's binding of the Rust library) with
 * the chat template and special tokens of {@code tokenizer_config.json}.
 *
 * <p>Encoding and decoding are those of Python's {@code tokenizers} ({@code Tokenizer.encode} /
 * {@code decode}); nothing of transformers' Python layer is added: no truncation, no padding, no
 * {@code clean_up_tokenization_spaces}, and special tokens only when {@link #encode} is asked for
 * them. The post-processor in {@code tokenizer.json} decides what those are (Llama's BOS, ...).
 *
 * <p>Thread-safe: the Rust tokenizer is immutable once loaded. Close it to free the native memory.
 */
public final class Tokenizer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Tokenizer.class);

    static final String FILE_NAME = "tokenizer.json";

    private final Path dir;
    private final HuggingFaceTokenizer hf;
    /** Guards the native handle: shared by encode/decode, exclusive for close. */
    private final java.util.concurrent.locks.ReentrantReadWriteLock nativeLock = new java.util.concurrent.locks.ReentrantReadWriteLock();
    private final Vocabulary vocabulary;
    private final TokenizerConfigFile config;
    private final @Nullable ChatTemplate chatTemplate;
    private final List<Integer> eosTokenIds;

    private Tokenizer(Path dir, HuggingFaceTokenizer hf, Vocabulary vocabulary, TokenizerConfigFile config) {
        this.dir = dir;
        this.hf = hf;
        this.vocabulary = vocabulary;
        this.config = config;
        this.chatTemplate = config.chatTemplate() == null ? null
                : new ChatTemplate(config.chatTemplate(), Objects.requireNonNull(config.templateOrigin()));
        List<Integer> eos = new ArrayList<>();
        if (config.eosToken() != null) {
            Integer id = vocabulary.tokenToId(config.eosToken());
            if (id == null) {
                throw new ModelFormatException(config.file() + ": eos_token \"" + config.eosToken()
                        + "\" is not a token of " + dir.resolve(FILE_NAME));
            }
            eos.add(id);
        }
        this.eosTokenIds = List.copyOf(eos);
    }

    /**
     * Loads {@code tokenizer.json} (required) and {@code tokenizer_config.json} (optional; without a
     * {@code chat_template} there, {@code chat_template.jinja} is read if present) from {@code dir}.
     *
     * @throws ModelFormatException naming the file when a file is missing, not JSON, or not a tokenizer
     */
    public static Tokenizer load(Path dir) {
        Path file = dir.resolve(FILE_NAME);
        byte[] json;
        try {
            json = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(file + ": not found; a Hugging Face tokenizer directory needs " + FILE_NAME, e);
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot be read: " + e.getMessage(), e);
        }
        Vocabulary vocabulary = Vocabulary.parse(json, file);
        TokenizerConfigFile config = TokenizerConfigFile.read(dir);
        HuggingFaceTokenizer hf = DjlNatives.newTokenizer(json, file);
        try {
            Tokenizer tokenizer = new Tokenizer(dir, hf, vocabulary, config);
            log.debug("loaded tokenizer {}: {} tokens, chat template: {}", dir, vocabulary.size(),
                    tokenizer.chatTemplate == null ? "none" : tokenizer.chatTemplate.origin());
            return tokenizer;
        } catch (RuntimeException e) {
            hf.close();
            throw e;
        }
    }

    /**
     * Loads the tokenizers' native library now, if no tokenizer has yet (the first load in a JVM takes a
     * few hundred milliseconds): {@code LLM} calls it on a background thread while it resolves the model.
     * A failure is not thrown here; {@link #load} reports it.
     */
    public static void loadNativeLibrary() {
        DjlNatives.loaded();
    }

    /** Token ids of {@code text}; {@code addSpecialTokens} applies the post-processor (e.g. BOS). */
    public int[] encode(String text, boolean addSpecialTokens) {
        Objects.requireNonNull(text, "text");
        long[] ids;
        nativeLock.readLock().lock();
        try {
            ids = handle().encode(text, addSpecialTokens, false).getIds();
        } finally {
            nativeLock.readLock().unlock();
        }
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    /**
     * The text of {@code ids}. As in Hugging Face {@code tokenizers}, ids that are not in the
     * vocabulary are left out.
     *
     * @throws IllegalArgumentException for a negative id
     */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        return decode(ids, 0, ids.length, skipSpecialTokens);
    }

    String decode(int[] ids, int from, int to, boolean skipSpecialTokens) {
        long[] longs = new long[to - from];
        for (int i = from; i < to; i++) {
            if (ids[i] < 0) {
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " is negative");
            }
            longs[i - from] = ids[i];
        }
        nativeLock.readLock().lock();
        try {
            return handle().decode(longs, skipSpecialTokens);
        } finally {
            nativeLock.readLock().unlock();
        }
    }

    /** Vocabulary size including added tokens (Hugging Face's {@code get_vocab_size(with_added_tokens=True)}). */
    public int vocabSize() {
        return vocabulary.size();
    }

    /** The id of a token string (e.g. {@code "<|im_end|>"}), or null if it is not in the vocabulary. */
    public @Nullable Integer tokenToId(String token) {
        return vocabulary.tokenToId(token);
    }

    /** Whether {@code id} is a special added token, the kind {@code skipSpecialTokens} leaves out. */
    public boolean isSpecialToken(int id) {
        return vocabulary.isSpecial(id);
    }

    /**
     * The bytes model token {@code id} adds to decoded text, for guided decoding: for byte-level BPE
     * (Llama 3, Qwen) the bytes its characters stand for; for SentencePiece (Llama 2, Mistral, stories15M)
     * its text with {@code ▁} as a space, or the byte of a {@code <0xXX>} byte-fallback token. Null for
     * added tokens (special or not: they decode as their literal content) and for ids that are no token.
     * Ids run from 0 to {@link #vocabSize()} - 1.
     *
     * @throws UnsupportedOperationException when the decoder of tokenizer.json is of another kind
     */
    public byte @Nullable [] tokenBytes(int id) {
        return vocabulary.tokenBytes(id);
    }

    /**
     * Whether {@link #decode} drops one leading space of the text it decodes (SentencePiece's decoders
     * do): the first token of a decode then writes its bytes less a leading space.
     */
    public boolean decodeStripsLeadingSpace() {
        return vocabulary.decodeStripsLeadingSpace();
    }

    /** End-of-sequence ids known to the tokenizer config (eos_token), possibly empty. */
    public List<Integer> eosTokenIds() {
        return eosTokenIds;
    }

    /** {@code bos_token} of tokenizer_config.json, or null. */
    public @Nullable String bosToken() {
        return config.bosToken();
    }

    /** {@code eos_token} of tokenizer_config.json, or null. */
    public @Nullable String eosToken() {
        return config.eosToken();
    }

    /** {@code add_bos_token} of tokenizer_config.json, or null when it does not say. */
    public @Nullable Boolean addBosToken() {
        return config.addBosToken();
    }

    /** Whether tokenizer_config.json has a chat template. */
    public boolean hasChatTemplate() {
        return chatTemplate != null;
    }

    /** The chat template, or null when the model has none. */
    public @Nullable ChatTemplate chatTemplate() {
        return chatTemplate;
    }

    /**
     * Renders {@code messages} with the model's chat template (or the documented plain fallback when
     * the model has none) into the prompt text.
     *
     * <p>With a template, the text is what transformers' {@code apply_chat_template(messages,
     * tokenize=False, add_generation_prompt=...)} returns: it already holds the template's special
     * tokens (Llama 3 puts {@code <|begin_of_text|>} in it), so encode it with
     * {@code addSpecialTokens=false} — or use {@link #encodeChat}.
     *
     * <p>Without a template (a base model such as stories15M), the text is the contents of the
     * messages joined by {@code "\n"}: first the system messages, then the others, each in its order;
     * roles are not written and {@code addGenerationPrompt} changes nothing. For
     * {@code [system "Be brief.", user "Once upon a time"]} that is {@code "Be brief.\nOnce upon a time"}.
     * The text holds no special tokens; {@link #encodeChat} adds the post-processor's (BOS).
     *
     * @throws ChatTemplateException when the template rejects the messages
     * @throws ModelFormatException  when the template fails to render
     */
    public String applyChatTemplate(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return applyChatTemplate(messages, addGenerationPrompt, Map.of());
    }

    /**
     * As {@link #applyChatTemplate(List, boolean)}, with further template variables, e.g.
     * {@code enable_thinking=false} for Qwen3 or {@code tools}.
     */
    public String applyChatTemplate(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
        if (chatTemplate == null) {
            return plainPrompt(messages);
        }
        Map<String, Object> context = new HashMap<>();
        // transformers passes the special tokens that are set (special_tokens_map), then the caller's kwargs.
        putIfNotNull(context, "bos_token", config.bosToken());
        putIfNotNull(context, "eos_token", config.eosToken());
        putIfNotNull(context, "unk_token", config.unkToken());
        putIfNotNull(context, "pad_token", config.padToken());
        context.putAll(variables);
        return chatTemplate.render(messages, addGenerationPrompt, context);
    }

    /**
     * The prompt ids of a conversation: the chat template's text encoded without adding special
     * tokens (the template has its own), or the plain fallback's text encoded with them.
     */
    public int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return encodeChat(messages, addGenerationPrompt, Map.of());
    }

    /** As {@link #encodeChat(List, boolean)}, with further template variables (see {@link #applyChatTemplate(List, boolean, Map)}). */
    public int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
        return encode(applyChatTemplate(messages, addGenerationPrompt, variables), chatTemplate == null);
    }

    /**
     * Whether the model's chat template renders tool definitions (it reads a {@code tools} variable:
     * pass OpenAI-style function definitions, {@code {"type": "function", "function": {"name",
     * "description", "parameters"}}}, as {@code tools}). False without a template.
     */
    public boolean supportsTools() {
        return chatTemplate != null && chatTemplate.supportsTools();
    }

    /** A fresh incremental detokenizer for one output stream. */
    public IncrementalDetokenizer newDetokenizer(boolean skipSpecialTokens) {
        return new IncrementalDetokenizer(this, skipSpecialTokens);
    }

    /**
     * A fresh incremental detokenizer for one output stream of {@code prompt}: the output is decoded
     * in the prompt's context (see {@link IncrementalDetokenizer}).
     */
    public IncrementalDetokenizer newDetokenizer(boolean skipSpecialTokens, int[] prompt) {
        return new IncrementalDetokenizer(this, skipSpecialTokens, prompt);
    }

    /** The directory the tokenizer was loaded from. */
    public Path directory() {
        return dir;
    }

    @Override
    public void close() {
        // The write lock waits for encodes/decodes in flight: freeing the native tokenizer under
        // one of them would be a use-after-free in native code, not an exception.
        nativeLock.writeLock().lock();
        try {
            hf.close();
        } finally {
            nativeLock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "Tokenizer[" + dir + ", " + vocabulary.size() + " tokens]";
    }

    private HuggingFaceTokenizer handle() {
        // DJL's handle is null once closed; fail with a message that says so.
        try {
            hf.getHandle();
        } catch (IllegalStateException e) {
            throw new IllegalStateException("tokenizer " + dir + " is closed", e);
        }
        return hf;
    }

    static String plainPrompt(List<ChatMessage> messages) {
        List<String> parts = new ArrayList<>();
        for (ChatMessage m : messages) {
            if (m.role().equals("system")) {
                parts.add(m.content());
            }
        }
        for (ChatMessage m : messages) {
            if (!m.role().equals("system")) {
                parts.add(m.content());
            }
        }
        return String.join("\n", parts);
    }

    private static void putIfNotNull(Map<String, Object> map, String key, @Nullable Object value) {
        if (value != null) {
            map.put(key, value);
        }
    }

    /**
     * Creates DJL tokenizers without the network and without DJL's defaults. DJL would otherwise
     * call home (EC2 telemetry), look for a CUDA build of the native library on GPU machines and
     * download it, add special tokens by default, and truncate to 512 tokens and pad.
     */
    private static final class DjlNatives {
        private static final @Nullable RuntimeException LOAD_FAILURE = load();

        private static @Nullable RuntimeException load() {
            // Only where neither the environment nor the JVM says otherwise.
            setIfUnset("OPT_OUT_TRACKING", "true");
            setIfUnset("RUST_FLAVOR", "cpu");
            try {
                LibUtils.checkStatus();
                return null;
            } catch (RuntimeException e) {
                return e;
            }
        }

        static boolean loaded() {
            return LOAD_FAILURE == null;
        }

        private static final Map<String, String> OPTIONS = Map.of(
                "addSpecialTokens", "false",
                "truncation", "false",
                "padding", "false");

        static HuggingFaceTokenizer newTokenizer(byte[] json, Path file) {
            if (LOAD_FAILURE != null) {
                throw new IllegalStateException("cannot load the native library of DJL's Hugging Face tokenizers: "
                        + LOAD_FAILURE.getMessage(), LOAD_FAILURE);
            }
            try {
                return HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json), OPTIONS);
            } catch (IOException | RuntimeException e) {
                throw new ModelFormatException(file + ": not a tokenizer Hugging Face tokenizers can load: "
                        + e.getMessage(), e);
            }
        }

        private static void setIfUnset(String name, String value) {
            if (System.getenv(name) == null && System.getProperty(name) == null) {
                System.setProperty(name, value);
            }
        }
    }
}
