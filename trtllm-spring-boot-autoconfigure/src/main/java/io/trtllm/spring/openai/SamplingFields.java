package io.trtllm.spring.openai;

import java.math.BigDecimal;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The fields both generation endpoints share (OpenAI's and vLLM's sampling fields), as the request
 * records of {@code /chat/completions} and {@code /completions} declare them. Each is null when the
 * request leaves it unset. Numbers that are not integers are {@link BigDecimal}s: the JSON text as it
 * was sent, so that a bound is checked exactly (1e400 is greater than 2, not infinity) and the error
 * quotes the client's own number.
 */
interface SamplingFields {
    @Nullable String model();

    @Nullable Boolean stream();

    ChatCompletionRequest.@Nullable StreamOptions streamOptions();

    @Nullable Integer maxTokens();

    @Nullable BigDecimal temperature();

    @Nullable BigDecimal topP();

    @Nullable Integer topK();

    @Nullable BigDecimal minP();

    @Nullable Integer minTokens();

    @Nullable List<String> stop();

    @Nullable List<Integer> stopTokenIds();

    @Nullable Long seed();

    @Nullable BigDecimal presencePenalty();

    @Nullable BigDecimal frequencyPenalty();

    @Nullable BigDecimal repetitionPenalty();

    @Nullable Integer n();

    @Nullable Integer bestOf();

    @Nullable Boolean ignoreEos();

    @Nullable Boolean includeStopStrInOutput();

    @Nullable Boolean skipSpecialTokens();
}
