package io.trtllm.spring.autoconfigure;

import io.trtllm.api.EngineStartFailure;

/**
 * The engine of the {@code LLM} bean could not start. Carries what was asked for (model, backend) and
 * why it failed ({@link EngineStartFailure}), for {@link TrtLlmEngineStartFailureAnalyzer}.
 */
public final class TrtLlmEngineStartException extends IllegalStateException {
    private final String model;
    private final String backend;
    private final EngineStartFailure failure;

    TrtLlmEngineStartException(String model, String backend, RuntimeException cause) {
        super("Could not start the trtllm engine (trtllm.model=" + model + ", trtllm.backend=" + backend + "): "
                + cause.getMessage(), cause);
        this.model = model;
        this.backend = backend;
        this.failure = EngineStartFailure.of(cause);
    }

    /** {@code trtllm.model} as given. */
    public String model() {
        return model;
    }

    /** {@code trtllm.backend} as given. */
    public String backend() {
        return backend;
    }

    /** Why the engine did not start. */
    public EngineStartFailure failure() {
        return failure;
    }
}
