package io.trtllm.spring.autoconfigure;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/**
 * Boot's "APPLICATION FAILED TO START" for an engine that did not start: the Description says what was
 * asked for and what went wrong (one sentence, not the cause chain), the Action what to change — the
 * {@code trtllm.*} key where one helps.
 */
public final class TrtLlmEngineStartFailureAnalyzer extends AbstractFailureAnalyzer<TrtLlmEngineStartException> {

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, TrtLlmEngineStartException cause) {
        String description = "The trtllm engine could not start (trtllm.model=" + cause.model() + ", trtllm.backend="
                + cause.backend() + "): " + cause.failure().message();
        String action = switch (cause.failure().kind()) {
            case NO_USABLE_GPU -> "Set trtllm.backend=auto (the CPU when no GPU is usable) or cpu, or run where an NVIDIA "
                    + "GPU and a CUDA 13 driver are visible (in a container: the NVIDIA runtime, --gpus all).";
            case HUB_UNREACHABLE -> "Let the application reach the Hugging Face Hub (trtllm.hub.endpoint or HF_ENDPOINT, "
                    + "a proxy), or download the model once where it can and set trtllm.hub.offline=true, or set "
                    + "trtllm.model to a local model directory.";
            case MODEL_NOT_FOUND -> "Check trtllm.model: a Hub id org/name[@revision] that exists. For a gated or private "
                    + "model set trtllm.hub.token (or HF_TOKEN) to a token that may read it.";
            case BAD_CHECKPOINT -> "Set trtllm.model to a transformers checkpoint directory (config.json, *.safetensors, "
                    + "tokenizer.json) of a supported architecture, or an engine directory from trtllm build; replace "
                    + "damaged files (a damaged cached engine is rebuilt once removed: trtllm cache).";
            case NOT_ENOUGH_SPACE -> "Free disk space where the cache lives (trtllm.cache.dir or TRTLLM_CACHE_DIR), or "
                    + "lower trtllm.cache.max-size so that older engines are removed.";
            case BAD_LIMIT -> "Change the trtllm.* limit the message names (trtllm.max-seq-len, trtllm.max-input-len, "
                    + "trtllm.kv-cache.*) to fit the model, or rebuild its engine with larger ones.";
            case OTHER -> "Check the trtllm.* properties (README, Spring Boot section); run with --debug for the cause.";
        };
        return new FailureAnalysis(description, action, cause);
    }
}
