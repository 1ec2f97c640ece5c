package io.trtllm.spring.openai;

import io.trtllm.api.SamplingParams;
import io.trtllm.api.config.ChatMessage;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * One parsed request of {@code /chat/completions} (messages) or {@code /completions} (prompts), with
 * every field checked (see {@link OpenAiRequestReader}).
 *
 * @param chat         whether this is a chat completion
 * @param model        the model the request names, or null when it names none
 * @param messages     the conversation (chat), else empty
 * @param prompts      the prompts (completions): each a {@code String} or an {@code int[]} of token ids
 * @param stream       whether to answer with server-sent events
 * @param includeUsage whether a stream ends with a usage chunk ({@code stream_options.include_usage})
 * @param sampling     the sampling fields
 * @param guide        the structured output asked for ({@code response_format}, {@code structured_outputs},
 *                     {@code guided_*}), or null
 * @param tools        the tools offered and how they may be called, or null without tools
 * @param templateKwargs further chat template variables ({@code chat_template_kwargs}), plain Java values
 */
record OpenAiRequest(boolean chat, @Nullable String model, List<ChatMessage> messages, List<Object> prompts,
                     boolean stream, boolean includeUsage, Sampling sampling, @Nullable Guide guide,
                     @Nullable OpenAiTools tools, Map<String, Object> templateKwargs) {

    OpenAiRequest {
        templateKwargs = Map.copyOf(templateKwargs);
    }

    /**
     * A guide and the request field it came from (named by the 400 when it does not compile).
     *
     * @param params the guide
     * @param param  the field: {@code response_format}, {@code structured_outputs.json}, {@code guided_regex}, ...
     */
    record Guide(GuidedDecodingParams params, String param) {
    }

    /** How many choices each prompt gets. */
    int n() {
        return sampling.n() != null ? sampling.n() : 1;
    }

    /**
     * The sampling fields of a request, each null when the request leaves it unset.
     *
     * @param maxTokensParam which field set {@code maxTokens} ({@code max_tokens} or {@code max_completion_tokens})
     * @param logprobs       top log-probabilities per token (0 = the chosen token's only), or null for none
     */
    record Sampling(@Nullable Double temperature, @Nullable Double topP, @Nullable Integer topK, @Nullable Double minP,
                    @Nullable Integer maxTokens, String maxTokensParam, @Nullable Integer minTokens,
                    @Nullable List<String> stop, @Nullable List<Integer> stopTokenIds, @Nullable Long seed,
                    @Nullable Double presencePenalty, @Nullable Double frequencyPenalty,
                    @Nullable Double repetitionPenalty, @Nullable Integer n, @Nullable Integer bestOf,
                    @Nullable Integer logprobs, boolean ignoreEos, boolean includeStopStrInOutput,
                    boolean skipSpecialTokens) {

        /**
         * The engine's sampling parameters: the request's fields over the chat model's defaults
         * ({@code trtllm.chat.*}), then SamplingParams' own defaults.
         *
         * @param maxTokens tokens this prompt may generate (the request's, else what the sequence length leaves)
         * @throws OpenAiException when the engine refuses the combination (the message names the field)
         */
        SamplingParams toParams(TrtLlmChatOptions defaults, int maxTokens) {
            return toParams(defaults, maxTokens, null, skipSpecialTokens);
        }

        /**
         * As {@link #toParams(TrtLlmChatOptions, int)}, guided by {@code guide} (null: free), decoding with or
         * without special tokens ({@code skipSpecial}: tool-call tags that are special tokens must stay in the text).
         */
        SamplingParams toParams(TrtLlmChatOptions defaults, int maxTokens, @Nullable GuidedDecodingParams guide,
                                boolean skipSpecial) {
            SamplingParams.Builder b = SamplingParams.builder().maxTokens(maxTokens);
            if (guide != null) {
                b.guidedDecoding(guide);
            }
            Double t = temperature != null ? temperature : defaults.getTemperature();
            if (t != null) {
                b.temperature(t.floatValue());
            }
            Double p = topP != null ? topP : defaults.getTopP();
            if (p != null) {
                b.topP(p.floatValue());
            }
            Integer k = topK != null ? topK : defaults.getTopK();
            if (k != null) {
                b.topK(k);
            }
            if (minP != null) {
                b.minP(minP.floatValue());
            }
            if (minTokens != null) {
                b.minTokens(minTokens);
            }
            List<String> stops = stop != null ? stop : defaults.getStopSequences();
            if (stops != null) {
                b.stop(stops);
            }
            if (stopTokenIds != null) {
                b.stopTokenIds(stopTokenIds);
            }
            b.seed(seed != null ? seed : defaults.getSeed());
            Double presence = presencePenalty != null ? presencePenalty : defaults.getPresencePenalty();
            if (presence != null) {
                b.presencePenalty(presence.floatValue());
            }
            Double frequency = frequencyPenalty != null ? frequencyPenalty : defaults.getFrequencyPenalty();
            if (frequency != null) {
                b.frequencyPenalty(frequency.floatValue());
            }
            Double repetition = repetitionPenalty != null ? repetitionPenalty : defaults.getRepetitionPenalty();
            if (repetition != null) {
                b.repetitionPenalty(repetition.floatValue());
            }
            if (n != null) {
                b.n(n);
            }
            if (bestOf != null) {
                b.bestOf(bestOf);
            }
            b.logprobs(logprobs).ignoreEos(ignoreEos).includeStopStrInOutput(includeStopStrInOutput)
                    .skipSpecialTokens(skipSpecial);
            try {
                return b.build();
            } catch (IllegalArgumentException e) {
                throw OpenAiException.invalid(paramOf(e.getMessage()), String.valueOf(e.getMessage()));
            }
        }

        /** The engine's messages start with the field's snake_case name, e.g. "best_of (2) cannot be less than n (3)". */
        private @Nullable String paramOf(@Nullable String message) {
            if (message == null) {
                return null;
            }
            String first = message.split("[ \\[(]", 2)[0];
            if (first.equals("max_tokens")) {
                return maxTokensParam;
            }
            if (first.equals("greedy")) {
                return bestOf != null && bestOf > 1 ? "best_of" : "n";
            }
            return first.matches("[a-z_]+") ? first : null;
        }
    }
}
