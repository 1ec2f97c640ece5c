package io.trtllm.spring.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.CompletionOutput;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.TokenLogprob;
import io.trtllm.api.Tokenizer;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * OpenAI-shaped JSON of responses, stream chunks and errors. Written with the engine's own Jackson
 * rather than the application's codecs, so that an application's JSON settings (naming strategy,
 * null handling) cannot change the wire format that OpenAI clients parse.
 */
final class OpenAiResponses {
    static final ObjectMapper JSON = new ObjectMapper();

    private final Tokenizer tokenizer;
    /** A plain token decoded before another keeps that one's leading space (decoders strip it at the start). */
    private final int @Nullable [] anchor;
    private final String anchorText;

    OpenAiResponses(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
        int[] a = tokenizer.encode("a", false);
        this.anchor = a.length == 1 ? a : null;
        this.anchorText = anchor != null ? tokenizer.decode(anchor, false) : "";
    }

    /** What every response and chunk of one request starts with. */
    record Header(String id, String object, long created, String model) {
        ObjectNode node() {
            ObjectNode n = JSON.createObjectNode();
            n.put("id", id).put("object", object).put("created", created).put("model", model);
            return n;
        }
    }

    /** One choice of a response: a completion output at its index. */
    ObjectNode choice(boolean chat, int index, CompletionOutput output) {
        ObjectNode c = JSON.createObjectNode().put("index", index);
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
        ObjectNode u = JSON.createObjectNode()
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
        ObjectNode n = JSON.createObjectNode();
        ObjectNode error = n.putObject("error");
        error.put("message", e.getMessage()).put("type", e.type()).put("param", e.param()).put("code", e.code());
        return n;
    }

    static byte[] bytes(ObjectNode node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String string(ObjectNode node) {
        try {
            return JSON.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
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
        ObjectNode n = JSON.createObjectNode();
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

    private com.fasterxml.jackson.databind.JsonNode logprobs(boolean chat, List<TokenLogprob> all, int from, int to) {
        if (all.isEmpty() || from >= to) {
            return com.fasterxml.jackson.databind.node.NullNode.getInstance();
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
