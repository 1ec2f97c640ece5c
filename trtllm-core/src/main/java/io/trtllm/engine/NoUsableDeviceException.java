package io.trtllm.engine;

/** {@code backend cuda} was asked for and no usable CUDA device is present; the message says why. */
public final class NoUsableDeviceException extends IllegalStateException {
    public NoUsableDeviceException(String message) {
        super(message);
    }
}
