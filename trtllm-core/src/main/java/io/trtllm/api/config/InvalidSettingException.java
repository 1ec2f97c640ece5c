package io.trtllm.api.config;

import org.jspecify.annotations.Nullable;

/**
 * A setting out of range, naming it as the API spells it ({@code max_batch_size},
 * {@code kv_cache_config.max_tokens}, {@code top_p}) with the value refused. Front ends that spell the
 * setting otherwise (the Spring properties {@code trtllm.max-batch-size}, a CLI's {@code --max-batch-size})
 * map {@link #setting()} to their own key instead of parsing the message, so each check is written once,
 * here in the core, and every front end names its own key for it.
 */
public final class InvalidSettingException extends IllegalArgumentException {
    private final String setting;
    private final transient @Nullable Object value;

    /**
     * @param setting the setting's name as the API spells it
     * @param value   the value refused (may be null)
     * @param message what is wrong, naming the setting and the value
     */
    public InvalidSettingException(String setting, @Nullable Object value, String message) {
        super(message);
        this.setting = setting;
        this.value = value;
    }

    /** The setting's name as the API spells it, e.g. {@code kv_cache_config.tokens_per_block}. */
    public String setting() {
        return setting;
    }

    /** The value refused, or null. */
    public @Nullable Object value() {
        return value;
    }
}
