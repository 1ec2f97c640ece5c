package io.trtllm.spring.openai;

import io.trtllm.api.CompletionOutput;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.TokenLogprob;
import io.trtllm.api.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.NullNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * OpenAI-shaped JSON of responses, stream chunks and errors. Built as trees and written with the
 * application's {@link JsonMapper} (so {@code spring.jackson.*} output settings such as indentation
 * apply), but never bound from objects: a naming strategy or a null-inclusion setting then cannot
 * rename or drop a field that OpenAI clients parse ({@code "finish_reason": null} stays).
 */
final class OpenAiResponses {
    /** Trees are built with the plain node factory: a mapper's settings apply to writing them only. */
    static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final JsonMapper json;
    private final Tokenizer tokenizer;
    /** A plain token decoded before another keeps that one's leading space (decoders strip it at the start). */
    private final int @Nullable [] anchor;
    private final String anchorText;

    OpenAiResponses(JsonMapper json, Tokenizer tokenizer) {
        this.json = json;
        this.tokenizer = tokenizer;
        int[] a = tokenizer.encode("a", false);
        this.anchor = a.length == 1 ? a : null;
        this.anchorText = anchor != null ? tokenizer.decode(anchor, false) : "";
    }

    /** What every response and chunk of one request starts with. */
    record Header(String id, String object, long created, String model) {
        ObjectNode node() {
            ObjectNode n = NODES.objectNode();
            n.put("id", id).put("object", object).put("created", created).put("model", model);
            return n;
        }
    }

    /** One choice of a response: a completion output at its index. */
    ObjectNode choice(boolean chat, int index, CompletionOutput output) {
        ObjectNode c = NODES.objectNode().put("index", index);
        if (chat) {
            c.putObject("message").put("role", "assistant").put("content", output.text());
        } else {
            c.put("text", output.text());
        }
        c.set("logprobs", logprobs(chat, output.logprobs(), 0, output.logprobs().size()));
        c.put("finish_reason", finishReason(output.finishReason()));
        return c;
    }

    /** A stream chunk of one choice: a text delta (and the role on a chat choice's first chunk). */
    ObjectNode chunk(Header header, boolean chat, int index, @Nullable String role, String text,
                     List<TokenLogprob> logprobs, int logprobsFrom, @Nullable String finishReason, boolean withUsageField) {
        ObjectNode n = header.node();
        ObjectNode c = n.putArray("choices").addObject().put("index", index);
        if (chat) {
            ObjectNode delta = c.putObject("delta");
            if (role != null) {
                delta.put("role", role);
            }
            if (role != null || !text.isEmpty()) {
                delta.put("content", text);
            }
        } else {
            c.put("text", text);
        }
        c.set("logprobs", logprobs(chat, logprobs, logprobsFrom, logprobs.size()));
        c.put("finish_reason", finishReason(finishReason));
        if (withUsageField) {
            n.putNull("usage");
        }
        return n;
    }

    /** The last chunk of a stream with {@code include_usage}: no choices, the usage of all of them. */
    static ObjectNode usageChunk(Header header, int promptTokens, int completionTokens, int cachedTokens) {
        ObjectNode n = header.node();
        n.putArray("choices");
        n.set("usage", usage(promptTokens, completionTokens, cachedTokens));
        return n;
    }

    static ObjectNode usage(int promptTokens, int completionTokens, int cachedTokens) {
        ObjectNode u = NODES.objectNode()
                .put("prompt_tokens", promptTokens)
                .put("completion_tokens", completionTokens)
                .put("total_tokens", promptTokens + completionTokens);
        u.putObject("prompt_tokens_details").put("cached_tokens", cachedTokens);
        return u;
    }

    static ObjectNode usage(List<RequestMetrics> metrics) {
        int prompt = 0;
        int completion = 0;
        int cached = 0;
        for (RequestMetrics m : metrics) {
            prompt += m.promptTokens();
            completion += m.generatedTokens();
            cached += m.cachedPromptTokens();
        }
        return usage(prompt, completion, cached);
    }

    /** {@code {"error": {"message", "type", "param", "code"}}}. */
    static ObjectNode error(OpenAiException e) {
        ObjectNode n = NODES.objectNode();
        ObjectNode error = n.putObject("error");
        error.put("message", e.getMessage()).put("type", e.type()).put("param", e.param()).put("code", e.code());
        return n;
    }

    byte[] bytes(ObjectNode node) {
        return json.writeValueAsBytes(node);
    }

    /**
     * One line of JSON: a server-sent event's data must not hold a line break (an indenting mapper's
     * output would be split into several {@code data:} lines, which not every client joins).
     */
    String line(ObjectNode node) {
        return json.writer().without(tools.jackson.databind.SerializationFeature.INDENT_OUTPUT).writeValueAsString(node);
    }

    /** The engine's finish reasons as OpenAI's: {@code stop}, {@code length}; an abort is vLLM's {@code abort}. */
    static @Nullable String finishReason(@Nullable String engineReason) {
        if (engineReason == null) {
            return null;
        }
        return engineReason.equals(CompletionOutput.CANCELLED) ? "abort" : engineReason;
    }

    /**
     * Log-probabilities of tokens {@code from .. to} of an output, or JSON null when none were asked
     * for: chat's {@code {"content": [{token, logprob, bytes, top_logprobs}]}} or the completions API's
     * {@code {tokens, token_logprobs, top_logprobs, text_offset}}.
     */
    private ObjectNode logprobsOrNull(boolean chat, List<TokenLogprob> all, int from, int to) {
        ObjectNode n = NODES.objectNode();
        if (chat) {
            ArrayNode content = n.putArray("content");
            for (TokenLogprob lp : all.subList(from, to)) {
                ObjectNode entry = content.addObject();
                tokenEntry(entry, lp.tokenId(), lp.logprob());
                ArrayNode top = entry.putArray("top_logprobs");
                int[] ids = lp.topTokenIds();
                float[] values = lp.topLogprobs();
                for (int i = 0; i < ids.length; i++) {
                    tokenEntry(top.addObject(), ids[i], values[i]);
                }
            }
        } else {
            ArrayNode tokens = n.putArray("tokens");
            ArrayNode tokenLogprobs = n.putArray("token_logprobs");
            ArrayNode top = n.putArray("top_logprobs");
            ArrayNode offsets = n.putArray("text_offset");
            int offset = 0;
            for (TokenLogprob lp : all.subList(from, to)) {
                String token = token(lp.tokenId());
                tokens.add(token);
                tokenLogprobs.add(lp.logprob());
                ObjectNode alternatives = top.addObject();
                int[] ids = lp.topTokenIds();
                float[] values = lp.topLogprobs();
                for (int i = 0; i < ids.length; i++) {
                    alternatives.put(token(ids[i]), values[i]);
                }
                offsets.add(offset);
                offset += token.length();
            }
        }
        return n;
    }

    private JsonNode logprobs(boolean chat, List<TokenLogprob> all, int from, int to) {
        if (all.isEmpty() || from >= to) {
            return NullNode.getInstance();
        }
        return logprobsOrNull(chat, all, from, to);
    }

    private void tokenEntry(ObjectNode entry, int tokenId, float logprob) {
        String token = token(tokenId);
        entry.put("token", token).put("logprob", logprob);
        ArrayNode bytes = entry.putArray("bytes");
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b & 0xff);
        }
    }

    /** A token's text as it reads inside a text (a leading space kept; special tokens kept). */
    private String token(int tokenId) {
        if (anchor != null) {
            String both = tokenizer.decode(new int[] {anchor[0], tokenId}, false);
            if (both.startsWith(anchorText)) {
                return both.substring(anchorText.length());
            }
        }
        return tokenizer.decode(new int[] {tokenId}, false);
    }
}
