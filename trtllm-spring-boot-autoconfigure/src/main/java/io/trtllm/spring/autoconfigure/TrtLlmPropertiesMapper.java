package io.trtllm.spring.autoconfigure;

import io.trtllm.api.LlmArgs;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.HubConfig;
import io.trtllm.api.config.InvalidSettingException;
import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.RuntimeConfig;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import java.nio.file.Files;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/**
 * {@link TrtLlmProperties} to the engine's arguments and the chat model's default options, in one
 * place. The checks are the core's own ({@code LlmArgs}, {@code KvCacheConfig}, {@code SamplingParams}):
 * each refusal names its setting ({@link InvalidSettingException#setting()}), which this maps to the
 * property key the user wrote, so a bad value fails startup with an
 * {@link InvalidConfigurationPropertyValueException} naming key, value and reason.
 */
public final class TrtLlmPropertiesMapper {
    /** The core's setting names whose property key is not the same words in kebab case. */
    private static final Map<String, String> KEYS = Map.of(
            "tokens_per_block", "kv-cache.tokens-per-block",
            "kv_cache_config.memory_fraction", "kv-cache.free-memory-fraction",
            "build_cache_config.max_records", "cache.max-records",
            "build_cache_config.max_size_bytes", "cache.max-size");

    private TrtLlmPropertiesMapper() {
    }

    /**
     * The engine arguments {@code properties} describe.
     *
     * @throws InvalidConfigurationPropertyValueException naming the first invalid key
     */
    public static LlmArgs toLlmArgs(TrtLlmProperties properties) {
        var tokenizer = properties.getTokenizer();
        if (tokenizer != null && !Files.isRegularFile(tokenizer.resolve("tokenizer.json"))) {
            throw invalid("tokenizer", tokenizer, "no tokenizer.json in that directory");
        }
        if (properties.getDeviceIds().contains(null)) {
            throw invalid("device-ids", properties.getDeviceIds(), "an empty entry; give one device ordinal per rank");
        }
        var kv = properties.getKvCache();
        var cache = properties.getCache();
        var hub = properties.getHub();
        LlmArgs args;
        try {
            args = LlmArgs.builder(properties.getModel())
                    .tokenizer(tokenizer)
                    .backend(properties.getBackend().name())
                    .maxSeqLen(properties.getMaxSeqLen())
                    .maxInputLen(properties.getMaxInputLen())
                    .maxBatchSize(properties.getMaxBatchSize())
                    .maxNumTokens(properties.getMaxNumTokens())
                    .maxQueueSize(properties.getMaxQueueSize())
                    .enableChunkedPrefill(properties.isEnableChunkedPrefill())
                    .threads(properties.getThreads())
                    .cacheDir(cache.getDir())
                    .dtype(properties.getDtype())
                    .quantization(properties.getQuantization())
                    .tensorParallelSize(properties.getTensorParallelSize())
                    .pipelineParallelSize(properties.getPipelineParallelSize())
                    .deviceIds(properties.getDeviceIds())
                    .enableBuildCache(cache.isEnabled())
                    .buildCacheConfig(new BuildCacheConfig(null, cache.getMaxRecords(), cache.getMaxSize().toBytes()))
                    .schedulerPolicy(properties.getScheduler().getPolicy())
                    .kvCacheConfig(new KvCacheConfig(kv.getMaxTokens(), kv.getFreeMemoryFraction(), kv.isEnableBlockReuse(),
                            kv.getTokensPerBlock(), kv.getDtype()))
                    .hub(new HubConfig(hub.getEndpoint(), hub.getToken(), hub.getOffline()))
                    .runtime(runtime(properties))
                    .build();
        } catch (InvalidSettingException e) {
            String key = key(e.setting());
            Object value = key.equals("cache.max-size") ? cache.getMaxSize() : e.value();
            throw invalid(key, value, e.getMessage());
        }
        try {
            LlmArgs.checkModel(args.model());
        } catch (IllegalArgumentException e) {
            throw invalid("model", args.model(), e.getMessage());
        }
        return args;
    }

    /**
     * The chat model's default options ({@code trtllm.chat.*}).
     *
     * @param isSet whether a property of this name is set: an invalid option is then named by the key the
     *              user wrote, {@code trtllm.chat.options.<option>} (deprecated) or {@code trtllm.chat.<option>}
     * @throws InvalidConfigurationPropertyValueException naming the first invalid key
     */
    public static TrtLlmChatOptions toChatOptions(TrtLlmProperties.Chat chat, Predicate<String> isSet) {
        var options = TrtLlmChatOptions.builder()
                .model(chat.getModel())
                .temperature(chat.getTemperature())
                .topK(chat.getTopK())
                .topP(chat.getTopP())
                .maxTokens(chat.getMaxTokens())
                .stopSequences(chat.getStop().isEmpty() ? null : chat.getStop())
                .presencePenalty(chat.getPresencePenalty())
                .frequencyPenalty(chat.getFrequencyPenalty())
                .repetitionPenalty(chat.getRepetitionPenalty())
                .seed(chat.getSeed())
                .build();
        try {
            options.check();
        } catch (InvalidSettingException e) {
            String option = e.setting().replace('_', '-');
            String old = TrtLlmProperties.PREFIX + ".chat.options." + option;
            String key = isSet.test(old) && !isSet.test(TrtLlmProperties.PREFIX + ".chat." + option)
                    ? "chat.options." + option : "chat." + option;
            throw invalid(key, e.value(), e.getMessage());
        }
        return options;
    }

    /** The chat model's default options, named by their current keys on failure. */
    public static TrtLlmChatOptions toChatOptions(TrtLlmProperties.Chat chat) {
        return toChatOptions(chat, key -> false);
    }

    /**
     * The fast-path switches: a property set to false turns its path off, and so does the JVM's
     * {@code -Dtrtllm.*=false} (which applied to the whole process before these properties existed). The opt-in
     * overlap is on when the property or the JVM's {@code -Dtrtllm.cuda.overlap=true} turns it on. The request
     * warm-up ({@code trtllm.warmup.requests}) is a switch of the same kind.
     */
    private static RuntimeConfig runtime(TrtLlmProperties properties) {
        RuntimeConfig jvm = RuntimeConfig.fromSystemProperties();
        var cuda = properties.getCuda();
        String npm = properties.getNpm().equals(RuntimeConfig.DEFAULT_NPM) ? jvm.npm() : properties.getNpm();
        return new RuntimeConfig(cuda.isGraphs() && jvm.cudaGraphs(), cuda.isDeviceSampling() && jvm.cudaDeviceSampling(),
                cuda.isGemv() && jvm.cudaGemv(), properties.getCpu().isHugePages() && jvm.cpuHugePages(), npm,
                cuda.isOverlap() || jvm.cudaOverlap(), properties.getWarmup().isRequests() && jvm.warmUpRequests());
    }

    /** The property key (without {@code trtllm.}) of a setting as the core spells it. */
    static String key(String setting) {
        String key = KEYS.get(setting);
        if (key != null) {
            return key;
        }
        return setting.replace("kv_cache_config.", "kv-cache.").replace('_', '-').toLowerCase(Locale.ROOT);
    }

    /**
     * The failure of an engine start that a setting caused ({@code new LLM(args)} refusing a split the model does
     * not allow, say), naming the property key.
     */
    static InvalidConfigurationPropertyValueException invalid(InvalidSettingException e) {
        return invalid(key(e.setting()), e.value(), e.getMessage());
    }

    static InvalidConfigurationPropertyValueException invalid(String key, @Nullable Object value, @Nullable String reason) {
        return new InvalidConfigurationPropertyValueException(TrtLlmProperties.PREFIX + "." + key, value, reason);
    }
}
