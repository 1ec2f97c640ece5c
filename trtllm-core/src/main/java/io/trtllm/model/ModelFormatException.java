package io.trtllm.model;

/**
 * A model file (config.json, safetensors, tokenizer) is missing, malformed or unsupported.
 * The message names the file and, where there is one, the key or tensor.
 */
public class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
