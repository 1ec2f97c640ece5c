package io.trtllm.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.model.ModelFormatException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What trtllm reads from {@code tokenizer_config.json}: the chat template and the special tokens the
 * template refers to. Everything in it is optional; a directory without the file has none of them.
 *
 * @param file           the file the values came from (for error messages), or null when there was none
 * @param chatTemplate   the Jinja source of the chat template, or null
 * @param templateOrigin where {@code chatTemplate} came from (a file, or a file and template name)
 * @param bosToken       {@code bos_token}'s text, or null
 * @param eosToken       {@code eos_token}'s text, or null
 * @param unkToken       {@code unk_token}'s text, or null
 * @param padToken       {@code pad_token}'s text, or null
 * @param addBosToken    {@code add_bos_token}, or null when the file does not say
 */
record TokenizerConfigFile(
        @Nullable Path file,
        @Nullable String chatTemplate,
        @Nullable String templateOrigin,
        @Nullable String bosToken,
        @Nullable String eosToken,
        @Nullable String unkToken,
        @Nullable String padToken,
        @Nullable Boolean addBosToken) {

    static final String FILE_NAME = "tokenizer_config.json";
    /** Where transformers (4.47 and later) saves the template when it is not inlined in the config. */
    static final String TEMPLATE_FILE_NAME = "chat_template.jinja";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Reads {@code dir/tokenizer_config.json} and, without a template there, {@code dir/chat_template.jinja}. */
    static TokenizerConfigFile read(Path dir) {
        Path file = dir.resolve(FILE_NAME);
        TokenizerConfigFile config = Files.isRegularFile(file) ? parse(file) : none();
        Path templateFile = dir.resolve(TEMPLATE_FILE_NAME);
        if (config.chatTemplate() == null && Files.isRegularFile(templateFile)) {
            try {
                String source = Files.readString(templateFile, StandardCharsets.UTF_8);
                return new TokenizerConfigFile(config.file(), source, templateFile.toString(), config.bosToken(),
                        config.eosToken(), config.unkToken(), config.padToken(), config.addBosToken());
            } catch (IOException e) {
                throw new ModelFormatException(templateFile + ": cannot be read: " + e.getMessage(), e);
            }
        }
        return config;
    }

    static TokenizerConfigFile none() {
        return new TokenizerConfigFile(null, null, null, null, null, null, null, null);
    }

    private static TokenizerConfigFile parse(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(file + ": expected a JSON object");
        }
        String template = null;
        String origin = null;
        JsonNode t = root.get("chat_template");
        if (t != null && t.isTextual()) {
            template = t.asText();
            origin = file.toString();
        } else if (t != null && t.isArray()) {
            // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]: transformers uses "default".
            List<String> names = new ArrayList<>();
            for (JsonNode named : t) {
                String name = named.path("name").asText("");
                names.add(name);
                if ("default".equals(name) && named.path("template").isTextual()) {
                    template = named.get("template").asText();
                    origin = file + " (chat_template \"default\")";
                }
            }
            if (template == null) {
                throw new ModelFormatException(file + ": chat_template lists templates " + names
                        + " but none named \"default\"");
            }
        } else if (t != null && !t.isNull()) {
            throw new ModelFormatException(file + ": chat_template must be a string or a list of {name, template}, found "
                    + t.getNodeType());
        }
        JsonNode addBos = root.get("add_bos_token");
        return new TokenizerConfigFile(file, template, origin,
                specialToken(root, "bos_token", file),
                specialToken(root, "eos_token", file),
                specialToken(root, "unk_token", file),
                specialToken(root, "pad_token", file),
                addBos != null && addBos.isBoolean() ? addBos.asBoolean() : null);
    }

    /** A special token is a string, or an AddedToken object {@code {"content": ..., "lstrip": ...}}, or null. */
    private static @Nullable String specialToken(JsonNode root, String key, Path file) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isTextual()) {
            return v.asText();
        }
        if (v.isObject() && v.path("content").isTextual()) {
            return v.get("content").asText();
        }
        throw new ModelFormatException(file + ": " + key + " must be a string or an object with a \"content\" string, found " + v);
    }
}
