package io.trtllm.api;

import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.api.config.InvalidSettingException;
import io.trtllm.sampling.SamplingChecks;
import io.trtllm.sampling.SamplingConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * How to pick each next token, and when to stop: TensorRT-LLM's {@code SamplingParams}, with its
 * field names in camel case and its defaults where they make sense for a library.
 *
 * <p>One difference: TensorRT-LLM decodes greedily when none of temperature, top_k and top_p is
 * given; here temperature defaults to 1 (as in vLLM and the OpenAI API), so an unset builder samples.
 * Greedy decoding is {@code temperature(0)} (or {@code topK(1)}), or {@link #greedy(int)}.
 *
 * <p>n, best_of and beam search follow TensorRT-LLM: without beam search, {@code bestOf} sequences
 * are sampled and the {@code n} with the highest cumulative log-probability returned; with beam search,
 * the beam width is {@code bestOf} and the {@code n} best beams are returned. {@code bestOf} defaults
 * to {@code n}.
 *
 * @param maxTokens              most tokens to generate (> 0; default 32, as TensorRT-LLM)
 * @param minTokens              fewest tokens to generate: until then the end-of-sequence and stop token
 *                               ids are banned (0..maxTokens; default 0). Stop strings are text, not
 *                               tokens, and are not banned by it.
 * @param temperature            0 means greedy (argmax); otherwise logits are divided by it before
 *                               sampling (default 1)
 * @param topK                   keep only the k most likely tokens (0 = no limit; 1 = greedy)
 * @param topP                   keep the smallest set of most likely tokens whose probability reaches p,
 *                               in (0, 1] (1 = no limit)
 * @param minP                   drop tokens less likely than minP times the most likely one, in [0, 1]
 *                               (0 = off)
 * @param seed                   seed of this request's random draws, or null for a random seed; the same
 *                               seed gives the same output whatever else is in the batch
 * @param stop                   strings that end generation when they appear in the text, matched across
 *                               token boundaries; the text is cut before the stop string unless
 *                               {@code includeStopStrInOutput}
 * @param includeStopStrInOutput whether the output text keeps the stop string that ended it
 * @param stopTokenIds           token ids that end generation (the token is not part of the text)
 * @param ignoreEos              whether to keep generating past the end-of-sequence token
 * @param bad                    strings never to generate: each is tokenized, and its last token is banned
 *                               whenever the sequence ends with its other tokens
 * @param badTokenIds            token ids never to generate
 * @param repetitionPenalty      Hugging Face's penalty on tokens of the prompt and the output: positive
 *                               logits are divided by it, negative ones multiplied (> 0; 1 = off)
 * @param presencePenalty        subtracted from the logit of every token already generated (0 = off;
 *                               negative values encourage repetition)
 * @param frequencyPenalty       subtracted from a token's logit once per time it was generated (0 = off)
 * @param logprobs               how many most likely tokens to return, with log-probabilities, per
 *                               generated token; 0 returns the chosen token's only; null returns none.
 *                               Log-probabilities are those of the raw model distribution.
 * @param promptLogprobs         the same for each prompt token, or null for none
 * @param n                      how many outputs to return (>= 1)
 * @param bestOf                 how many sequences to generate (sampling) or the beam width (beam search);
 *                               >= n, defaults to n
 * @param useBeamSearch          whether to decode with beam search, of width {@code bestOf}
 * @param lengthPenalty          beam search: a beam's score is its cumulative log-probability divided by
 *                               {@code length^lengthPenalty} (default 1, as Hugging Face and vLLM;
 *                               TensorRT-LLM's runtime uses 0); length counts the generated tokens, a final
 *                               end token included
 * @param earlyStopping          beam search: when the search ends, as TensorRT-LLM's {@code early_stopping}
 *                               (default 1, its default): 1 once {@code bestOf} hypotheses have finished; 0 when
 *                               moreover the best live beam can no longer beat them (Hugging Face's heuristic);
 *                               above 1 never before max_tokens
 * @param detokenize             whether to turn the output tokens into text (stop strings need it)
 * @param skipSpecialTokens      whether the output text leaves out special tokens
 * @param truncatePromptTokens   keep only the last k prompt tokens (left truncation), or null to keep all
 * @param endId                  TensorRT-LLM's {@code end_id}: the token that ends generation in place of the
 *                               model's end-of-sequence ids, or null for the model's (config.json's and
 *                               the tokenizer's); must be in the vocabulary
 * @param returnContextLogits    whether the output carries the logits of every prompt position
 *                               ({@link RequestOutput#contextLogits()}; bounded: see {@link #MAX_LOGITS_VALUES})
 * @param returnGenerationLogits whether each output carries the logits each of its tokens was chosen from
 *                               ({@link CompletionOutput#generationLogits()}; bounded likewise). The runners
 *                               compute the rows a request asks for, so no engine build option is needed.
 * @param guidedDecoding         what the output must look like (TensorRT-LLM's {@code guided_decoding}: a JSON
 *                               Schema, any JSON object, a regex, a choice, a GBNF grammar), or null for free
 *                               text. Enforced by a token mask before every draw, in every mode (greedy,
 *                               top-k/p, n/best_of, beam search); the end-of-sequence token is allowed only
 *                               where the output is complete, so it cannot be combined with {@code ignoreEos}
 *                               or {@code minTokens}. Log-probabilities stay those of the raw distribution
 *                               (best_of ranks by them); beam search ranks by the masked ones, so that every
 *                               beam stays inside the guide. Compiled (and cached) per
 *                               tokenizer when the request is submitted; a bad guide is refused there with a
 *                               {@link io.trtllm.api.config.GuidedDecodingException}.
 */
public record SamplingParams(
        int maxTokens,
        int minTokens,
        float temperature,
        int topK,
        float topP,
        float minP,
        @Nullable Long seed,
        List<String> stop,
        boolean includeStopStrInOutput,
        List<Integer> stopTokenIds,
        boolean ignoreEos,
        List<String> bad,
        List<Integer> badTokenIds,
        float repetitionPenalty,
        float presencePenalty,
        float frequencyPenalty,
        @Nullable Integer logprobs,
        @Nullable Integer promptLogprobs,
        int n,
        int bestOf,
        boolean useBeamSearch,
        float lengthPenalty,
        int earlyStopping,
        boolean detokenize,
        boolean skipSpecialTokens,
        @Nullable Integer truncatePromptTokens,
        @Nullable Integer endId,
        boolean returnContextLogits,
        boolean returnGenerationLogits,
        @Nullable GuidedDecodingParams guidedDecoding) {

    /**
     * Most logits values one request may return of each kind (context: prompt tokens × vocabulary;
     * generation: max_tokens × best_of × vocabulary): 16 Mi floats, 64 MiB.
     */
    public static final long MAX_LOGITS_VALUES = 1L << 24;

    public static final int DEFAULT_MAX_TOKENS = 32;
    /** Default temperature (TensorRT-LLM's: see the class comment). */
    public static final float DEFAULT_TEMPERATURE = 1f;
    /** Default top_k: 0, no limit. */
    public static final int DEFAULT_TOP_K = 0;
    /** Default top_p: 1, no limit. */
    public static final float DEFAULT_TOP_P = 1f;
    /** Default repetition_penalty: 1, off. */
    public static final float DEFAULT_REPETITION_PENALTY = 1f;
    /** Default presence_penalty and frequency_penalty: 0, off. */
    public static final float DEFAULT_PENALTY = 0f;

    public SamplingParams {
        if (maxTokens <= 0) {
            throw new InvalidSettingException("max_tokens", maxTokens, "max_tokens must be > 0, got " + maxTokens);
        }
        SamplingChecks.checkMinTokens(minTokens);
        if (minTokens > maxTokens) {
            throw new IllegalArgumentException("min_tokens (" + minTokens + ") must be <= max_tokens (" + maxTokens + ")");
        }
        SamplingChecks.checkWarpers(temperature, topK, topP, minP);
        stop = nonEmptyStrings("stop", stop);
        stopTokenIds = tokenIds("stop_token_ids", stopTokenIds);
        bad = nonEmptyStrings("bad", bad);
        badTokenIds = tokenIds("bad_token_ids", badTokenIds);
        SamplingChecks.checkPenalties(repetitionPenalty, presencePenalty, frequencyPenalty);
        if (logprobs != null && logprobs < 0) {
            throw new IllegalArgumentException("logprobs must be >= 0 (or null for none), got " + logprobs);
        }
        if (promptLogprobs != null && promptLogprobs < 0) {
            throw new IllegalArgumentException("prompt_logprobs must be >= 0 (or null for none), got " + promptLogprobs);
        }
        if (n < 1) {
            throw new IllegalArgumentException("n must be >= 1, got " + n);
        }
        if (bestOf < 1) {
            throw new IllegalArgumentException("best_of must be >= 1, got " + bestOf);
        }
        if (bestOf < n) {
            throw new IllegalArgumentException("best_of (" + bestOf + ") cannot be less than n (" + n + ")");
        }
        if (bestOf > 1 && !useBeamSearch && (temperature == 0f || topK == 1)) {
            throw new IllegalArgumentException("greedy decoding (temperature 0 or top_k 1) gives one sequence, got best_of="
                    + bestOf + "; sample (temperature > 0) or use beam search");
        }
        if (earlyStopping < 0) {
            throw new InvalidSettingException("early_stopping", earlyStopping, "early_stopping must be >= 0, got " + earlyStopping);
        }
        if (!Float.isFinite(lengthPenalty)) {
            throw new IllegalArgumentException("length_penalty must be a finite number, got " + lengthPenalty);
        }
        if (!detokenize && !stop.isEmpty()) {
            throw new IllegalArgumentException("stop strings need detokenize=true, got stop=" + stop);
        }
        if (truncatePromptTokens != null && truncatePromptTokens < 1) {
            throw new IllegalArgumentException("truncate_prompt_tokens must be >= 1 (or null to keep all), got "
                    + truncatePromptTokens);
        }
        if (endId != null && endId < 0) {
            throw new IllegalArgumentException("end_id must be >= 0 (or null for the model's), got " + endId);
        }
        if (guidedDecoding != null && ignoreEos) {
            throw new IllegalArgumentException("ignore_eos cannot be combined with guided decoding: the end-of-sequence "
                    + "token is what ends a complete guided output");
        }
        if (guidedDecoding != null && minTokens > 0) {
            throw new IllegalArgumentException("min_tokens (" + minTokens + ") cannot be combined with guided decoding: "
                    + "the guide decides where the output may end");
        }
    }

    private static List<String> nonEmptyStrings(String field, List<String> values) {
        List<String> copy = List.copyOf(values);
        for (int i = 0; i < copy.size(); i++) {
            if (copy.get(i).isEmpty()) {
                throw new IllegalArgumentException(field + "[" + i + "] must not be empty, got " + values);
            }
        }
        return copy;
    }

    private static List<Integer> tokenIds(String field, List<Integer> values) {
        List<Integer> copy = List.copyOf(values);
        for (int id : copy) {
            if (id < 0) {
                throw new IllegalArgumentException(field + " must be >= 0, got " + id + " in " + values);
            }
        }
        return copy;
    }

    /** Whether tokens are chosen by argmax: temperature 0, or top_k 1 (as TensorRT-LLM). */
    public boolean greedy() {
        return temperature == 0f || topK == 1;
    }

    /** Beams per request: {@code bestOf} with beam search, else 1. */
    public int beamWidth() {
        return useBeamSearch ? bestOf : 1;
    }

    /**
     * The executor's view of these settings.
     *
     * @param eosTokenIds the model's end-of-sequence ids (replaced by {@code endId} when set; ignored when
     *                    {@code ignoreEos})
     * @param encode      tokenizes a bad word, without special tokens (as TensorRT-LLM's
     *                    {@code tokenizer.encode(word, add_special_tokens=False)})
     */
    public SamplingConfig toSamplingConfig(int[] eosTokenIds, Function<? super String, int[]> encode) {
        Set<Integer> endIds = new LinkedHashSet<>();
        if (!ignoreEos) {
            for (int id : endId != null ? new int[] {endId} : eosTokenIds) {
                endIds.add(id);
            }
        }
        endIds.addAll(stopTokenIds);
        Set<Integer> bannedIds = new LinkedHashSet<>(badTokenIds);
        List<int[]> bannedWords = new ArrayList<>();
        for (String word : bad) {
            int[] ids = encode.apply(word);
            if (ids.length == 1) {
                bannedIds.add(ids[0]);
            } else if (ids.length > 1) {
                bannedWords.add(ids.clone());
            }
        }
        // Ranking best_of samples needs each token's log-probability even when none are returned; with
        // generation logits the row is on the host anyway, and the chosen token's gives cumulative_logprob.
        int logprobsPerToken = logprobs != null ? logprobs
                : (bestOf > n && !useBeamSearch) || returnGenerationLogits ? 0 : SamplingConfig.NO_LOGPROBS;
        return new SamplingConfig(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                minTokens, ints(endIds), ints(bannedIds), bannedWords.toArray(int[][]::new), seed, logprobsPerToken);
    }

    /**
     * The executor's view of settings without bad words (strings need a tokenizer).
     *
     * @throws IllegalStateException when {@link #bad()} is not empty
     */
    public SamplingConfig toSamplingConfig(int[] eosTokenIds) {
        return toSamplingConfig(eosTokenIds, word -> {
            throw new IllegalStateException("bad words " + bad + " need a tokenizer: use toSamplingConfig(eosTokenIds, encode)");
        });
    }

    private static int[] ints(Set<Integer> ids) {
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding these settings. */
    public Builder toBuilder() {
        return new Builder().maxTokens(maxTokens).minTokens(minTokens).temperature(temperature).topK(topK).topP(topP)
                .minP(minP).seed(seed).stop(stop).includeStopStrInOutput(includeStopStrInOutput)
                .stopTokenIds(stopTokenIds).ignoreEos(ignoreEos).bad(bad).badTokenIds(badTokenIds)
                .repetitionPenalty(repetitionPenalty).presencePenalty(presencePenalty)
                .frequencyPenalty(frequencyPenalty).logprobs(logprobs).promptLogprobs(promptLogprobs).n(n)
                .bestOf(bestOf).useBeamSearch(useBeamSearch).lengthPenalty(lengthPenalty).earlyStopping(earlyStopping)
                .detokenize(detokenize)
                .skipSpecialTokens(skipSpecialTokens).truncatePromptTokens(truncatePromptTokens).endId(endId)
                .returnContextLogits(returnContextLogits).returnGenerationLogits(returnGenerationLogits)
                .guidedDecoding(guidedDecoding);
    }

    /**
     * What TensorRT-LLM's {@code SamplingParams()} does when nothing is set, used by the {@code LLM} calls
     * that take no parameters: greedy decoding (its top_k and top_p unset mean argmax) of up to
     * {@value #DEFAULT_MAX_TOKENS} tokens, stopping at the model's end-of-sequence ids. The
     * {@link #builder()} starts from temperature 1 instead (see the class comment): a builder's unset
     * fields keep the meaning they have had for this library's callers.
     */
    public static SamplingParams defaults() {
        return DEFAULTS;
    }

    private static final SamplingParams DEFAULTS = greedy(DEFAULT_MAX_TOKENS);

    /**
     * These settings with some changed, for one call: {@code params.with(b -> b.maxTokens(64).seed(7L))}.
     * This instance is left as it is.
     */
    public SamplingParams with(java.util.function.Consumer<Builder> overrides) {
        Builder b = toBuilder();
        overrides.accept(b);
        return b.build();
    }

    /** Greedy decoding of up to {@code maxTokens} tokens. */
    public static SamplingParams greedy(int maxTokens) {
        return builder().maxTokens(maxTokens).temperature(0).build();
    }

    /** Builder with TensorRT-LLM-like defaults (temperature 1: see the class comment). */
    public static final class Builder {
        private int maxTokens = DEFAULT_MAX_TOKENS;
        private int minTokens;
        private float temperature = DEFAULT_TEMPERATURE;
        private int topK = DEFAULT_TOP_K;
        private float topP = DEFAULT_TOP_P;
        private float minP;
        private @Nullable Long seed;
        private List<String> stop = List.of();
        private boolean includeStopStrInOutput;
        private List<Integer> stopTokenIds = List.of();
        private boolean ignoreEos;
        private List<String> bad = List.of();
        private List<Integer> badTokenIds = List.of();
        private float repetitionPenalty = DEFAULT_REPETITION_PENALTY;
        private float presencePenalty = DEFAULT_PENALTY;
        private float frequencyPenalty = DEFAULT_PENALTY;
        private @Nullable Integer logprobs;
        private @Nullable Integer promptLogprobs;
        private int n = 1;
        private @Nullable Integer bestOf;
        private boolean useBeamSearch;
        private float lengthPenalty = 1f;
        private int earlyStopping = 1;
        private boolean detokenize = true;
        private boolean skipSpecialTokens = true;
        private @Nullable Integer truncatePromptTokens;
        private @Nullable Integer endId;
        private boolean returnContextLogits;
        private boolean returnGenerationLogits;
        private @Nullable GuidedDecodingParams guidedDecoding;

        private Builder() {
        }

        public Builder maxTokens(int maxTokens) {
            this.maxTokens = maxTokens;
            return this;
        }

        public Builder minTokens(int minTokens) {
            this.minTokens = minTokens;
            return this;
        }

        public Builder temperature(float temperature) {
            this.temperature = temperature;
            return this;
        }

        public Builder topK(int topK) {
            this.topK = topK;
            return this;
        }

        public Builder topP(float topP) {
            this.topP = topP;
            return this;
        }

        public Builder minP(float minP) {
            this.minP = minP;
            return this;
        }

        public Builder seed(@Nullable Long seed) {
            this.seed = seed;
            return this;
        }

        public Builder stop(List<String> stop) {
            this.stop = stop;
            return this;
        }

        public Builder stop(String... stop) {
            return stop(Arrays.asList(stop));
        }

        public Builder includeStopStrInOutput(boolean includeStopStrInOutput) {
            this.includeStopStrInOutput = includeStopStrInOutput;
            return this;
        }

        public Builder stopTokenIds(List<Integer> stopTokenIds) {
            this.stopTokenIds = stopTokenIds;
            return this;
        }

        public Builder stopTokenIds(int... stopTokenIds) {
            return stopTokenIds(Arrays.stream(stopTokenIds).boxed().toList());
        }

        public Builder ignoreEos(boolean ignoreEos) {
            this.ignoreEos = ignoreEos;
            return this;
        }

        public Builder bad(List<String> bad) {
            this.bad = bad;
            return this;
        }

        public Builder bad(String... bad) {
            return bad(Arrays.asList(bad));
        }

        public Builder badTokenIds(List<Integer> badTokenIds) {
            this.badTokenIds = badTokenIds;
            return this;
        }

        public Builder badTokenIds(int... badTokenIds) {
            return badTokenIds(Arrays.stream(badTokenIds).boxed().toList());
        }

        public Builder repetitionPenalty(float repetitionPenalty) {
            this.repetitionPenalty = repetitionPenalty;
            return this;
        }

        public Builder presencePenalty(float presencePenalty) {
            this.presencePenalty = presencePenalty;
            return this;
        }

        public Builder frequencyPenalty(float frequencyPenalty) {
            this.frequencyPenalty = frequencyPenalty;
            return this;
        }

        public Builder logprobs(@Nullable Integer logprobs) {
            this.logprobs = logprobs;
            return this;
        }

        public Builder promptLogprobs(@Nullable Integer promptLogprobs) {
            this.promptLogprobs = promptLogprobs;
            return this;
        }

        public Builder n(int n) {
            this.n = n;
            return this;
        }

        /** Sequences to generate, or the beam width; null (the default) means {@code n}. */
        public Builder bestOf(@Nullable Integer bestOf) {
            this.bestOf = bestOf;
            return this;
        }

        public Builder useBeamSearch(boolean useBeamSearch) {
            this.useBeamSearch = useBeamSearch;
            return this;
        }

        public Builder lengthPenalty(float lengthPenalty) {
            this.lengthPenalty = lengthPenalty;
            return this;
        }

        /** Beam search's early stopping (default 1); see {@link SamplingParams#earlyStopping()}. */
        public Builder earlyStopping(int earlyStopping) {
            this.earlyStopping = earlyStopping;
            return this;
        }

        public Builder detokenize(boolean detokenize) {
            this.detokenize = detokenize;
            return this;
        }

        public Builder skipSpecialTokens(boolean skipSpecialTokens) {
            this.skipSpecialTokens = skipSpecialTokens;
            return this;
        }

        public Builder truncatePromptTokens(@Nullable Integer truncatePromptTokens) {
            this.truncatePromptTokens = truncatePromptTokens;
            return this;
        }

        /** The token that ends generation in place of the model's end-of-sequence ids; null for the model's. */
        public Builder endId(@Nullable Integer endId) {
            this.endId = endId;
            return this;
        }

        public Builder returnContextLogits(boolean returnContextLogits) {
            this.returnContextLogits = returnContextLogits;
            return this;
        }

        public Builder returnGenerationLogits(boolean returnGenerationLogits) {
            this.returnGenerationLogits = returnGenerationLogits;
            return this;
        }

        /** What the output must look like (null: free text); see {@link SamplingParams#guidedDecoding()}. */
        public Builder guidedDecoding(@Nullable GuidedDecodingParams guidedDecoding) {
            this.guidedDecoding = guidedDecoding;
            return this;
        }

        public SamplingParams build() {
            return new SamplingParams(maxTokens, minTokens, temperature, topK, topP, minP, seed, stop,
                    includeStopStrInOutput, stopTokenIds, ignoreEos, bad, badTokenIds, repetitionPenalty,
                    presencePenalty, frequencyPenalty, logprobs, promptLogprobs, n, bestOf != null ? bestOf : n,
                    useBeamSearch, lengthPenalty, earlyStopping, detokenize, skipSpecialTokens, truncatePromptTokens, endId,
                    returnContextLogits, returnGenerationLogits, guidedDecoding);
        }
    }
}
