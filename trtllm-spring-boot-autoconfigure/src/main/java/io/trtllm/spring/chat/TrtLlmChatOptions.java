package io.trtllm.spring.chat;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.model.tool.DefaultToolCallingChatOptions;
import org.springframework.ai.model.tool.StructuredOutputChatOptions;
import org.springframework.ai.model.tool.ToolCallingChatOptions;
import org.springframework.ai.tool.ToolCallback;

/**
 * Options of a {@link TrtLlmChatModel} request: Spring AI's portable chat options plus the engine's
 * {@code repetitionPenalty} and {@code seed}. Every option may be unset (null); unset options take the
 * chat model's defaults, and what is still unset then takes {@link io.trtllm.api.SamplingParams}'
 * defaults (max tokens: up to the model's max sequence length).
 *
 * <p>Immutable; change a copy through {@link #mutate()}. Merging follows Spring AI 2.0:
 * {@code defaults.mutate().combineWith(request.mutate()).build()} — set values of the request win,
 * stop sequences and tool callbacks are appended.
 *
 * <p>{@code model} is a label: one engine serves one model, so it is reported in the response
 * metadata and observations but does not select anything. Tool callbacks (a {@code ChatClient} sets
 * them) are rendered into the prompt when the model's chat template supports tools; see
 * {@link TrtLlmChatModel}.
 *
 * <p>Structured output: the {@code outputSchema} (a JSON Schema; Spring AI's {@code ChatClient} sets it for
 * {@code .entity(MyRecord.class)} when native structured output is enabled) is enforced by guided decoding:
 * the reply is a JSON value valid against it, whatever the model would have written.
 */
public final class TrtLlmChatOptions implements ToolCallingChatOptions, StructuredOutputChatOptions {
    private final @Nullable String model;
    private final @Nullable Double temperature;
    private final @Nullable Integer topK;
    private final @Nullable Double topP;
    private final @Nullable Integer maxTokens;
    private final @Nullable List<String> stopSequences;
    private final @Nullable Double presencePenalty;
    private final @Nullable Double frequencyPenalty;
    private final @Nullable Double repetitionPenalty;
    private final @Nullable Long seed;
    private final List<ToolCallback> toolCallbacks;
    private final Map<String, Object> toolContext;
    private final @Nullable String outputSchema;

    private TrtLlmChatOptions(@Nullable String model, @Nullable Double temperature, @Nullable Integer topK,
                              @Nullable Double topP, @Nullable Integer maxTokens, @Nullable List<String> stopSequences,
                              @Nullable Double presencePenalty, @Nullable Double frequencyPenalty,
                              @Nullable Double repetitionPenalty, @Nullable Long seed,
                              @Nullable List<ToolCallback> toolCallbacks, @Nullable Map<String, Object> toolContext,
                              @Nullable String outputSchema) {
        this.model = model;
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.maxTokens = maxTokens;
        this.stopSequences = stopSequences == null ? null : List.copyOf(stopSequences);
        this.presencePenalty = presencePenalty;
        this.frequencyPenalty = frequencyPenalty;
        this.repetitionPenalty = repetitionPenalty;
        this.seed = seed;
        this.toolCallbacks = toolCallbacks == null ? List.of() : List.copyOf(toolCallbacks);
        this.toolContext = toolContext == null ? Map.of() : Map.copyOf(toolContext);
        this.outputSchema = outputSchema;
    }

    /** A builder with every option unset. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * These options with {@code other}'s set values over them (Spring AI's merge rules; see the class
     * comment). {@code other} may be any {@link ChatOptions}, or null for a copy of these.
     */
    public TrtLlmChatOptions merge(@Nullable ChatOptions other) {
        return other == null ? this : mutate().combineWith(other.mutate()).build();
    }

    /**
     * Checks the set options by the engine's own rules, as a request with them would be checked
     * (max tokens only when set: unset, it depends on the prompt).
     *
     * @throws io.trtllm.api.config.InvalidSettingException naming the first option out of range as
     *                                                      {@code SamplingParams} spells it ({@code top_p}, {@code max_tokens}, ...)
     */
    public void check() {
        ChatRequestMapper.sampling(this).maxTokens(maxTokens != null ? maxTokens : 1).build();
    }

    @Override
    public @Nullable String getModel() {
        return model;
    }

    @Override
    public @Nullable Double getTemperature() {
        return temperature;
    }

    @Override
    public @Nullable Integer getTopK() {
        return topK;
    }

    @Override
    public @Nullable Double getTopP() {
        return topP;
    }

    @Override
    public @Nullable Integer getMaxTokens() {
        return maxTokens;
    }

    @Override
    public @Nullable List<String> getStopSequences() {
        return stopSequences;
    }

    @Override
    public @Nullable Double getPresencePenalty() {
        return presencePenalty;
    }

    @Override
    public @Nullable Double getFrequencyPenalty() {
        return frequencyPenalty;
    }

    /** Hugging Face's repetition penalty (> 0; 1 = off), or null. */
    public @Nullable Double getRepetitionPenalty() {
        return repetitionPenalty;
    }

    /** Seed of the request's random draws, or null for a random one. */
    public @Nullable Long getSeed() {
        return seed;
    }

    @Override
    public List<ToolCallback> getToolCallbacks() {
        return toolCallbacks;
    }

    @Override
    public Map<String, Object> getToolContext() {
        return toolContext;
    }

    /** The JSON Schema the reply must be valid against (enforced by guided decoding), or null for free text. */
    @Override
    public @Nullable String getOutputSchema() {
        return outputSchema;
    }

    @Override
    public Builder mutate() {
        Builder b = builder()
                .model(model)
                .temperature(temperature)
                .topK(topK)
                .topP(topP)
                .maxTokens(maxTokens)
                .stopSequences(stopSequences)
                .presencePenalty(presencePenalty)
                .frequencyPenalty(frequencyPenalty)
                .repetitionPenalty(repetitionPenalty)
                .seed(seed)
                .outputSchema(outputSchema);
        if (!toolCallbacks.isEmpty()) {
            b.toolCallbacks(toolCallbacks);
        }
        if (!toolContext.isEmpty()) {
            b.toolContext(toolContext);
        }
        return b;
    }

    @Override
    public boolean equals(@Nullable Object o) {
        return o instanceof TrtLlmChatOptions that
                && Objects.equals(model, that.model)
                && Objects.equals(temperature, that.temperature)
                && Objects.equals(topK, that.topK)
                && Objects.equals(topP, that.topP)
                && Objects.equals(maxTokens, that.maxTokens)
                && Objects.equals(stopSequences, that.stopSequences)
                && Objects.equals(presencePenalty, that.presencePenalty)
                && Objects.equals(frequencyPenalty, that.frequencyPenalty)
                && Objects.equals(repetitionPenalty, that.repetitionPenalty)
                && Objects.equals(seed, that.seed)
                && toolCallbacks.equals(that.toolCallbacks)
                && toolContext.equals(that.toolContext)
                && Objects.equals(outputSchema, that.outputSchema);
    }

    @Override
    public int hashCode() {
        return Objects.hash(model, temperature, topK, topP, maxTokens, stopSequences, presencePenalty, frequencyPenalty,
                repetitionPenalty, seed, toolCallbacks, toolContext, outputSchema);
    }

    @Override
    public String toString() {
        return "TrtLlmChatOptions[model=" + model + ", temperature=" + temperature + ", topK=" + topK + ", topP=" + topP
                + ", maxTokens=" + maxTokens + ", stopSequences=" + stopSequences + ", presencePenalty=" + presencePenalty
                + ", frequencyPenalty=" + frequencyPenalty + ", repetitionPenalty=" + repetitionPenalty + ", seed=" + seed
                + ", toolCallbacks=" + toolCallbacks.size() + ", outputSchema=" + (outputSchema != null) + "]";
    }

    /**
     * Builder of {@link TrtLlmChatOptions}; {@link #combineWith} copies another builder's set values
     * over this one's (the engine-specific ones too when the other is a {@code TrtLlmChatOptions} builder).
     */
    public static final class Builder extends DefaultToolCallingChatOptions.Builder<Builder>
            implements StructuredOutputChatOptions.Builder<Builder> {
        private @Nullable Double repetitionPenalty;
        private @Nullable Long seed;
        private @Nullable String outputSchema;

        private Builder() {
        }

        /** Hugging Face's repetition penalty (> 0; 1 = off), or null to leave it unset. */
        public Builder repetitionPenalty(@Nullable Double repetitionPenalty) {
            this.repetitionPenalty = repetitionPenalty;
            return this;
        }

        /** Seed of the request's random draws, or null for a random one. */
        public Builder seed(@Nullable Long seed) {
            this.seed = seed;
            return this;
        }

        /** The JSON Schema the reply must be valid against (guided decoding), or null for free text. */
        @Override
        public Builder outputSchema(@Nullable String outputSchema) {
            this.outputSchema = outputSchema;
            return this;
        }

        @Override
        public Builder combineWith(ChatOptions.Builder<?> other) {
            super.combineWith(other);
            if (other instanceof Builder that && that.outputSchema != null) {
                this.outputSchema = that.outputSchema;
            }
            if (other instanceof Builder that) {
                if (that.repetitionPenalty != null) {
                    this.repetitionPenalty = that.repetitionPenalty;
                }
                if (that.seed != null) {
                    this.seed = that.seed;
                }
            }
            return this;
        }

        @Override
        public TrtLlmChatOptions build() {
            return new TrtLlmChatOptions(model, temperature, topK, topP, maxTokens, stopSequences, presencePenalty,
                    frequencyPenalty, repetitionPenalty, seed, toolCallbacks, toolContext, outputSchema);
        }
    }
}
