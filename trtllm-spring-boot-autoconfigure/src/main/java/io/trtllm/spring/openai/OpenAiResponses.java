package io.trtllm.spring.openai;

import io.trtllm.api.CompletionOutput;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.TokenLogprob;
import io.trtllm.api.Tokenizer;
import io.trtllm.api.chat.AssistantReply;
import io.trtllm.api.chat.ChatDelta;
import io.trtllm.api.chat.ReplyParser;
import io.trtllm.api.chat.ToolCall;
import io.trtllm.api.chat.ToolCallDelta;
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

    /** One choice of a {@code /completions} response: a completion output at its index. */
    ObjectNode choice(int index, CompletionOutput output) {
        ObjectNode c = NODES.objectNode().put("index", index);
        c.put("text", output.text());
        c.set("logprobs", logprobs(false, output.logprobs(), 0, output.logprobs().size()));
        c.put("finish_reason", finishReason(output.finishReason()));
        return c;
    }

    /**
     * One choice of a chat response, its text read by {@code replies} (null: the text as written):
     * {@code message.content} (null when the reply is only tool calls), {@code message.reasoning_content} when
     * the model reasoned, {@code message.tool_calls} when it called tools (the first only, unless
     * {@code parallel}); {@code finish_reason} {@code tool_calls} when it did and stopped on its own.
     */
    ObjectNode chatChoice(int index, CompletionOutput output, @Nullable ReplyParser replies, boolean parallel) {
        AssistantReply reply = replies != null ? replies.parse(output.text())
                : new AssistantReply("", output.text(), List.of());
        List<ToolCall> calls = reply.toolCalls();
        if (!parallel && calls.size() > 1) {
            calls = calls.subList(0, 1);
        }
        ObjectNode c = NODES.objectNode().put("index", index);
        ObjectNode message = c.putObject("message").put("role", "assistant");
        if (calls.isEmpty() || !reply.content().isEmpty()) {
            message.put("content", reply.content());
        } else {
            message.putNull("content");
        }
        if (!reply.reasoningContent().isEmpty()) {
            message.put("reasoning_content", reply.reasoningContent());
        }
        if (!calls.isEmpty()) {
            ArrayNode toolCalls = message.putArray("tool_calls");
            for (ToolCall call : calls) {
                ObjectNode t = toolCalls.addObject().put("id", call.id()).put("type", "function");
                t.putObject("function").put("name", call.name()).put("arguments", call.arguments());
            }
        }
        c.set("logprobs", logprobs(true, output.logprobs(), 0, output.logprobs().size()));
        c.put("finish_reason", chatFinishReason(output.finishReason(), !calls.isEmpty()));
        return c;
    }

    /** The engine's finish reason, {@code tool_calls} instead of {@code stop} when the reply called tools. */
    static @Nullable String chatFinishReason(@Nullable String engineReason, boolean calledTools) {
        return calledTools && CompletionOutput.STOP.equals(engineReason) ? "tool_calls" : finishReason(engineReason);
    }

    /**
     * A chat stream chunk of one choice: the role on the first, {@code content}, {@code reasoning_content} and
     * {@code tool_calls} as OpenAI streams them (a call's first piece with index, id, type and function name, later
     * pieces with the index and an arguments fragment).
     */
    ObjectNode chatChunk(Header header, int index, @Nullable String role, ChatDelta delta, List<TokenLogprob> logprobs,
                         int logprobsFrom, @Nullable String finishReason, boolean withUsageField) {
        ObjectNode n = header.node();
        ObjectNode c = n.putArray("choices").addObject().put("index", index);
        ObjectNode d = c.putObject("delta");
        if (role != null) {
            d.put("role", role);
        }
        if (role != null || !delta.content().isEmpty()) {
            d.put("content", delta.content());
        }
        if (!delta.reasoningContent().isEmpty()) {
            d.put("reasoning_content", delta.reasoningContent());
        }
        if (!delta.toolCalls().isEmpty()) {
            ArrayNode calls = d.putArray("tool_calls");
            for (ToolCallDelta t : delta.toolCalls()) {
                ObjectNode call = calls.addObject().put("index", t.index());
                if (t.opensCall()) {
                    call.put("id", t.id()).put("type", "function");
                }
                ObjectNode function = call.putObject("function");
                if (t.opensCall()) {
                    function.put("name", t.name());
                }
                function.put("arguments", t.arguments());
            }
        }
        c.set("logprobs", logprobs(true, logprobs, logprobsFrom, logprobs.size()));
        c.put("finish_reason", finishReason);
        if (withUsageField) {
            n.putNull("usage");
        }
        return n;
    }

    /** Two deltas of one stream as one. */
    static ChatDelta concat(ChatDelta a, ChatDelta b) {
        if (b.isEmpty()) {
            return a;
        }
        List<ToolCallDelta> calls = new java.util.ArrayList<>(a.toolCalls());
        calls.addAll(b.toolCalls());
        return new ChatDelta(a.reasoningContent() + b.reasoningContent(), a.content() + b.content(), calls);
    }

    /** The delta without pieces of calls after the first, unless {@code parallel}. */
    static ChatDelta limitCalls(ChatDelta delta, boolean parallel) {
        if (parallel || delta.toolCalls().stream().allMatch(t -> t.index() == 0)) {
            return delta;
        }
        return new ChatDelta(delta.reasoningContent(), delta.content(),
                delta.toolCalls().stream().filter(t -> t.index() == 0).toList());
    }

    /** A {@code /completions} stream chunk of one choice: a text delta. */
    ObjectNode chunk(Header header, int index, String text, List<TokenLogprob> logprobs, int logprobsFrom,
                     @Nullable String finishReason, boolean withUsageField) {
        ObjectNode n = header.node();
        ObjectNode c = n.putArray("choices").addObject().put("index", index);
        c.put("text", text);
        c.set("logprobs", logprobs(false, logprobs, logprobsFrom, logprobs.size()));
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
