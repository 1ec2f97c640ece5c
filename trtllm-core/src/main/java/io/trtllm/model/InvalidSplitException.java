package io.trtllm.model;

import org.jspecify.annotations.Nullable;

/**
 * A split over ranks that the model or the backend does not allow, naming the setting that asked for it as the
 * API spells it ({@code tensor_parallel_size}, {@code pipeline_parallel_size}, {@code device_ids}), so that a front
 * end can name its own key for it (the API turns it into its {@code InvalidSettingException}).
 */
public final class InvalidSplitException extends IllegalArgumentException {
    private final String setting;
    private final transient @Nullable Object value;

    /**
     * @param setting the setting as the API spells it
     * @param value   its value
     * @param message what does not fit, naming the setting, its value and the model's value
     */
    public InvalidSplitException(String setting, @Nullable Object value, String message) {
        super(message);
        this.setting = setting;
        this.value = value;
    }

    /** The setting as the API spells it. */
    public String setting() {
        return setting;
    }

    /** The value refused. */
    public @Nullable Object value() {
        return value;
    }
}
