package io.trtllm.spring.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.LlmArgs;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.HubConfig;
import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.api.config.RuntimeConfig;
import io.trtllm.api.config.SchedulerPolicy;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.context.properties.bind.BindException;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.test.context.assertj.AssertableApplicationContext;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * Binding and checking of {@code trtllm.*}. Every invalid value fails startup before any model is
 * loaded, with a message naming the key, the value and the reason.
 */
class TrtLlmPropertiesIT {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(TrtLlmAutoConfiguration.class));

    @Test
    void defaultsAreTheEnginesDefaults() {
        var properties = new TrtLlmProperties();

        assertThat(TrtLlmPropertiesMapper.toLlmArgs(properties)).isEqualTo(LlmArgs.builder("stories15M").build());
        var options = TrtLlmPropertiesMapper.toChatOptions(properties.getChat());
        assertThat(options.getTemperature()).isEqualTo(0.7);
        assertThat(options.getTopK()).isZero();
        assertThat(options.getTopP()).isEqualTo(1.0);
        assertThat(options.getMaxTokens()).isNull();
        assertThat(options.getStopSequences()).isNull();
        assertThat(options.getModel()).isNull();
    }

    @Test
    void everyKeyIsBound(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("tokenizer.json"), "{}");
        runner.withPropertyValues("spring.ai.model.chat=none", "trtllm.model=" + dir, "trtllm.tokenizer=" + dir,
                        "trtllm.backend=cpu", "trtllm.max-seq-len=128", "trtllm.max-input-len=100", "trtllm.max-batch-size=8", "trtllm.max-num-tokens=512",
                        "trtllm.max-queue-size=16", "trtllm.enable-chunked-prefill=false", "trtllm.threads=1",
                        "trtllm.cache.dir=" + dir, "trtllm.cache.enabled=false", "trtllm.cache.max-records=3",
                        "trtllm.cache.max-size=2GB", "trtllm.dtype=bfloat16", "trtllm.quantization=int8",
                        "trtllm.kv-cache.max-tokens=4096", "trtllm.kv-cache.free-memory-fraction=0.5",
                        "trtllm.kv-cache.enable-block-reuse=false", "trtllm.kv-cache.tokens-per-block=16",
                        "trtllm.kv-cache.dtype=bf16", "trtllm.scheduler.policy=max-utilization",
                        "trtllm.tensor-parallel-size=2", "trtllm.pipeline-parallel-size=3", "trtllm.device-ids=5,4,3,2,1,0", "trtllm.chat.options.model=tiny",
                        "trtllm.chat.options.temperature=0.2", "trtllm.chat.options.top-k=5", "trtllm.chat.options.top-p=0.9",
                        "trtllm.chat.options.max-tokens=100", "trtllm.chat.options.stop=END,STOP",
                        "trtllm.chat.options.presence-penalty=0.1", "trtllm.chat.options.frequency-penalty=0.2",
                        "trtllm.chat.options.repetition-penalty=1.1", "trtllm.chat.options.seed=42")
                .withUserConfiguration(PropertiesOnly.class)
                .run(context -> {
                    var properties = context.getBean(TrtLlmProperties.class);
                    assertThat(TrtLlmPropertiesMapper.toLlmArgs(properties)).isEqualTo(LlmArgs.builder(dir.toString()).tokenizer(dir)
                            .backend("cpu").maxSeqLen(128).maxInputLen(100).maxBatchSize(8).maxNumTokens(512).maxQueueSize(16)
                            .enableChunkedPrefill(false).threads(1).cacheDir(dir).dtype("bfloat16")
                            .quantization(Quantization.INT8).enableBuildCache(false)
                            .buildCacheConfig(new BuildCacheConfig(null, 3, 2L << 30))
                            .kvCacheConfig(new KvCacheConfig(4096, 0.5, false, 16, Dtype.BFLOAT16))
                            .schedulerPolicy(SchedulerPolicy.MAX_UTILIZATION).tensorParallelSize(2).pipelineParallelSize(3)
                            .deviceIds(List.of(5, 4, 3, 2, 1, 0)).build());
                    var options = TrtLlmPropertiesMapper.toChatOptions(properties.getChat());
                    assertThat(options.getModel()).isEqualTo("tiny");
                    assertThat(options.getTemperature()).isEqualTo(0.2);
                    assertThat(options.getTopK()).isEqualTo(5);
                    assertThat(options.getTopP()).isEqualTo(0.9);
                    assertThat(options.getMaxTokens()).isEqualTo(100);
                    assertThat(options.getStopSequences()).isEqualTo(List.of("END", "STOP"));
                    assertThat(options.getPresencePenalty()).isEqualTo(0.1);
                    assertThat(options.getFrequencyPenalty()).isEqualTo(0.2);
                    assertThat(options.getRepetitionPenalty()).isEqualTo(1.1);
                    assertThat(options.getSeed()).isEqualTo(42L);
                });
    }

    @Test
    void chatOptionsBindAtTrtllmChatAsSpringAi2NamesThem() {
        runner.withPropertyValues("spring.ai.model.chat=none", "trtllm.chat.model=tiny", "trtllm.chat.temperature=0.2",
                        "trtllm.chat.top-k=5", "trtllm.chat.top-p=0.9", "trtllm.chat.max-tokens=100", "trtllm.chat.stop=END,STOP",
                        "trtllm.chat.presence-penalty=0.1", "trtllm.chat.frequency-penalty=0.2",
                        "trtllm.chat.repetition-penalty=1.1", "trtllm.chat.seed=42")
                .withUserConfiguration(PropertiesOnly.class)
                .run(context -> {
                    var options = TrtLlmPropertiesMapper.toChatOptions(context.getBean(TrtLlmProperties.class).getChat());
                    assertThat(options).isEqualTo(TrtLlmChatOptions.builder().model("tiny").temperature(0.2).topK(5).topP(0.9)
                            .maxTokens(100).stopSequences(List.of("END", "STOP")).presencePenalty(0.1).frequencyPenalty(0.2)
                            .repetitionPenalty(1.1).seed(42L).build());
                });
    }

    @Test
    void theOldChatOptionsKeysStillBindToTheSameSettings() {
        runner.withPropertyValues("spring.ai.model.chat=none", "trtllm.chat.options.temperature=0.3",
                        "trtllm.chat.options.stop=X", "trtllm.chat.top-k=7")
                .withUserConfiguration(PropertiesOnly.class)
                .run(context -> {
                    var chat = context.getBean(TrtLlmProperties.class).getChat();
                    assertThat(chat.getTemperature()).isEqualTo(0.3);
                    assertThat(chat.getStop()).containsExactly("X");
                    assertThat(chat.getTopK()).isEqualTo(7);
                    var options = TrtLlmPropertiesMapper.toChatOptions(chat);
                    assertThat(options.getTemperature()).isEqualTo(0.3);
                    assertThat(options.getTopK()).isEqualTo(7);
                });
    }

    @Test
    void aBadChatOptionIsNamedByTheKeyTheUserWrote() {
        runner.withPropertyValues("trtllm.chat.top-p=2").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.chat.top-p").hasMessageContaining("'2.0'")
                        .hasMessageContaining("top_p must be in (0, 1]")
                        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("chat.options")));
        runner.withPropertyValues("trtllm.chat.options.seed=1", "trtllm.chat.max-tokens=0").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.chat.max-tokens")
                        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("chat.options")));
    }

    @Test
    void hubSettingsAreOrdinaryProperties() {
        runner.withPropertyValues("spring.ai.model.chat=none", "trtllm.hub.endpoint=https://mirror.example",
                        "trtllm.hub.token=hf_abc", "trtllm.hub.offline=true")
                .withUserConfiguration(PropertiesOnly.class)
                .run(context -> {
                    var args = TrtLlmPropertiesMapper.toLlmArgs(context.getBean(TrtLlmProperties.class));
                    assertThat(args.hub()).isEqualTo(new HubConfig("https://mirror.example", "hf_abc", true));
                    assertThat(args.toString()).doesNotContain("hf_abc");
                });
        runner.withPropertyValues("trtllm.hub.endpoint=ftp://mirror").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.hub.endpoint").hasMessageContaining("ftp://mirror")
                        .hasMessageContaining("must be an http(s) URL"));
    }

    @Test
    void theJvmWideSwitchesAreOrdinaryPropertiesToo() {
        runner.withPropertyValues("spring.ai.model.chat=none", "trtllm.cuda.graphs=false", "trtllm.cuda.device-sampling=false",
                        "trtllm.cuda.gemv=false", "trtllm.cpu.huge-pages=false", "trtllm.npm=/opt/node/bin/npm")
                .withUserConfiguration(PropertiesOnly.class)
                .run(context -> assertThat(TrtLlmPropertiesMapper.toLlmArgs(context.getBean(TrtLlmProperties.class)).runtime())
                        .isEqualTo(new RuntimeConfig(false, false, false, false, "/opt/node/bin/npm")));
        // The -D flags, which applied to the whole JVM before, still turn a path off.
        System.setProperty(RuntimeConfig.CUDA_GEMV, "false");
        try {
            assertThat(TrtLlmPropertiesMapper.toLlmArgs(new TrtLlmProperties()).runtime())
                    .isEqualTo(new RuntimeConfig(true, true, false, true, "npm"));
        } finally {
            System.clearProperty(RuntimeConfig.CUDA_GEMV);
        }
        // The request warm-up: on by default, off through its property.
        assertThat(TrtLlmPropertiesMapper.toLlmArgs(new TrtLlmProperties()).runtime().warmUpRequests()).isTrue();
        runner.withPropertyValues("spring.ai.model.chat=none", "trtllm.warmup.requests=false")
                .withUserConfiguration(PropertiesOnly.class)
                .run(context -> assertThat(TrtLlmPropertiesMapper.toLlmArgs(context.getBean(TrtLlmProperties.class)).runtime()
                        .warmUpRequests()).isFalse());
        // The overlap is opt-in: off by default, on through the property (or the JVM's -Dtrtllm.cuda.overlap=true).
        assertThat(TrtLlmPropertiesMapper.toLlmArgs(new TrtLlmProperties()).runtime().cudaOverlap()).isFalse();
        runner.withPropertyValues("spring.ai.model.chat=none", "trtllm.cuda.overlap=true")
                .withUserConfiguration(PropertiesOnly.class)
                .run(context -> assertThat(TrtLlmPropertiesMapper.toLlmArgs(context.getBean(TrtLlmProperties.class)).runtime())
                        .isEqualTo(new RuntimeConfig(true, true, true, true, "npm", true)));
    }

    @Test
    void choiceValuedPropertiesAreTheCoresEnumsAndTakeItsSpellings() {
        runner.withPropertyValues("spring.ai.model.chat=none", "trtllm.dtype=BF16", "trtllm.kv-cache.dtype=half",
                        "trtllm.quantization=INT4", "trtllm.backend=CPU", "trtllm.scheduler.policy=MAX_UTILIZATION")
                .withUserConfiguration(PropertiesOnly.class)
                .run(context -> {
                    var properties = context.getBean(TrtLlmProperties.class);
                    assertThat(properties.getDtype()).isEqualTo(Dtype.BFLOAT16);
                    assertThat(properties.getKvCache().getDtype()).isEqualTo(Dtype.FLOAT16);
                    assertThat(properties.getQuantization()).isEqualTo(Quantization.INT4);
                    var args = TrtLlmPropertiesMapper.toLlmArgs(properties);
                    assertThat(args.dtype()).isEqualTo("bfloat16");
                    assertThat(args.backend()).isEqualTo("cpu");
                    assertThat(args.schedulerPolicy()).isEqualTo(SchedulerPolicy.MAX_UTILIZATION);
                });
    }

    @Test
    void aModelThatIsNeitherBuiltinNorADirectoryFailsNamingTrtllmModel() {
        runner.withPropertyValues("trtllm.model=/no/such/model").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.model").hasMessageContaining("/no/such/model")
                        .hasMessageContaining("is neither a builtin model [stories15M], nor a directory, nor a Hugging Face Hub id"));
    }

    @Test
    void engineBuildKeysAreCheckedNamingTheKey() {
        runner.withPropertyValues("trtllm.max-seq-len=64", "trtllm.max-input-len=100").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.max-input-len")
                        .hasMessageContaining("max_input_len 100 exceeds max_seq_len 64"));
        // Enums since issue 17.3: refused while binding, by the core's parser (its message lists the values).
        runner.withPropertyValues("trtllm.dtype=fp4").run(context ->
                assertBindFailure(context, "trtllm.dtype").hasMessageContaining("'fp4'"));
        // fp8 is a KV cache type only: as the weights' dtype it binds, then is refused naming the key and quantization fp8.
        runner.withPropertyValues("trtllm.dtype=fp8").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.dtype").hasMessageContaining("quantization fp8"));
        runner.withPropertyValues("trtllm.quantization=int3").run(context ->
                assertBindFailure(context, "trtllm.quantization")
                        .hasMessageContaining("quantization 'int3' is not one of [none, int8, int4, fp8]"));
        runner.withPropertyValues("trtllm.cache.max-records=0").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.cache.max-records"));
        runner.withPropertyValues("trtllm.cache.max-size=0B").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.cache.max-size"));
        // A Hugging Face Hub id is a model (downloaded at startup), not a configuration error.
        var properties = new TrtLlmProperties();
        properties.setModel("Qwen/Qwen3-0.6B@main");
        assertThat(TrtLlmPropertiesMapper.toLlmArgs(properties).model()).isEqualTo("Qwen/Qwen3-0.6B@main");
    }

    @Test
    void aTokenizerDirectoryWithoutTokenizerJsonFails(@TempDir Path dir) {
        runner.withPropertyValues("trtllm.tokenizer=" + dir).run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.tokenizer").hasMessageContaining("no tokenizer.json"));
    }

    @Test
    void outOfRangeEngineValuesFailNamingTheKeyAndValue() {
        runner.withPropertyValues("trtllm.max-batch-size=0").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.max-batch-size").hasMessageContaining("'0'")
                        .hasMessageContaining("must be > 0"));
        runner.withPropertyValues("trtllm.max-seq-len=-5").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.max-seq-len").hasMessageContaining("'-5'"));
        runner.withPropertyValues("trtllm.threads=-1").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.threads"));
        runner.withPropertyValues("trtllm.kv-cache.free-memory-fraction=1.5").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.kv-cache.free-memory-fraction")
                        .hasMessageContaining("'1.5'"));
        runner.withPropertyValues("trtllm.kv-cache.tokens-per-block=0").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.kv-cache.tokens-per-block"));
        runner.withPropertyValues("trtllm.kv-cache.max-tokens=0").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.kv-cache.max-tokens"));
        runner.withPropertyValues("trtllm.kv-cache.dtype=int8").run(context ->
                assertBindFailure(context, "trtllm.kv-cache.dtype").hasMessageContaining("'int8'")
                        .hasMessageContaining("float32, float16, bfloat16"));
    }

    @Test
    void outOfRangeChatOptionsFailNamingTheKey() {
        runner.withPropertyValues("trtllm.chat.options.top-p=2").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.chat.options.top-p").hasMessageContaining("top_p must be in (0, 1]"));
        runner.withPropertyValues("trtllm.chat.options.temperature=-1").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.chat.options.temperature"));
        runner.withPropertyValues("trtllm.chat.options.max-tokens=0").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.chat.options.max-tokens"));
        runner.withPropertyValues("trtllm.chat.options.top-k=-3").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.chat.options.top-k"));
        runner.withPropertyValues("trtllm.chat.options.repetition-penalty=0").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.chat.options.repetition-penalty"));
    }

    @Test
    void aSplitOutOfRangeFailsNamingTheKeyBeforeAnyModelLoads() {
        runner.withPropertyValues("trtllm.tensor-parallel-size=0").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.tensor-parallel-size").hasMessageContaining("'0'")
                        .hasMessageContaining("tensor_parallel_size must be >= 1"));
        runner.withPropertyValues("trtllm.pipeline-parallel-size=-2").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.pipeline-parallel-size"));
        runner.withPropertyValues("trtllm.tensor-parallel-size=16", "trtllm.pipeline-parallel-size=8").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.tensor-parallel-size").hasMessageContaining("exceeds 64 ranks"));
        runner.withPropertyValues("trtllm.tensor-parallel-size=2", "trtllm.device-ids=0,1,2").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.device-ids").hasMessageContaining("3 devices for 2 ranks"));
        runner.withPropertyValues("trtllm.tensor-parallel-size=2", "trtllm.device-ids=1,1").run(context ->
                assertInvalid(context).hasMessageContaining("trtllm.device-ids").hasMessageContaining("distinct"));
    }

    @Test
    void aSplitTheModelDoesNotAllowFailsNamingTheKey() {
        // stories15M has 6 attention heads: 4 ranks cannot share them. Checked before any engine is built.
        runner.withPropertyValues("trtllm.backend=cpu", "trtllm.tensor-parallel-size=4")
                .run(context -> assertInvalid(context).hasMessageContaining("trtllm.tensor-parallel-size")
                        .hasMessageContaining("'4'").hasMessageContaining("does not divide num_attention_heads 6"));
        runner.withPropertyValues("trtllm.backend=cpu", "trtllm.pipeline-parallel-size=7")
                .run(context -> assertInvalid(context).hasMessageContaining("trtllm.pipeline-parallel-size")
                        .hasMessageContaining("exceeds num_hidden_layers 6"));
        runner.withPropertyValues("trtllm.backend=cpu", "trtllm.tensor-parallel-size=2",
                        "trtllm.device-ids=0,1")
                .run(context -> assertInvalid(context).hasMessageContaining("trtllm.device-ids")
                        .hasMessageContaining("the CPU backend's ranks are threads"));
    }

    @Test
    void anUnknownBackendFailsBindingNamingTheKey() {
        runner.withPropertyValues("trtllm.backend=tpu").run(context -> {
            assertThat(context).hasFailed();
            assertThat(context.getStartupFailure()).rootCause().isNotNull();
            assertThat(context.getStartupFailure()).hasStackTraceContaining("trtllm.backend");
        });
    }

    @Test
    void backendCudaWithoutAGpuFailsSayingWhy() {
        runner.withPropertyValues("trtllm.backend=cuda").run(context -> {
            assertThat(context).hasFailed();
            assertThat(context.getStartupFailure()).hasStackTraceContaining("trtllm.backend=cuda")
                    .hasStackTraceContaining("backend 'cuda' needs a usable CUDA device");
        });
    }

    /**
     * A value the binder refused for {@code key}: the failure names the key, and its root cause is the
     * core's parser's message (asserted on by the caller).
     */
    private static AbstractThrowableAssert<?, ? extends Throwable> assertBindFailure(AssertableApplicationContext context,
                                                                                   String key) {
        assertThat(context).hasFailed();
        Throwable failure = context.getStartupFailure();
        while (failure != null && !(failure instanceof BindException)) {
            failure = failure.getCause();
        }
        assertThat(failure).isInstanceOf(BindException.class);
        assertThat(((BindException) failure).getName()).hasToString(key);
        assertThat(failure).hasMessageContaining(key);
        Throwable root = failure;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        return assertThat(root).isInstanceOf(IllegalArgumentException.class);
    }

    private static AbstractThrowableAssert<?, ? extends Throwable> assertInvalid(AssertableApplicationContext context) {
        assertThat(context).hasFailed();
        Throwable failure = context.getStartupFailure();
        while (failure != null && !(failure instanceof InvalidConfigurationPropertyValueException)) {
            failure = failure.getCause();
        }
        return assertThat(failure).isInstanceOf(InvalidConfigurationPropertyValueException.class);
    }

    @org.springframework.boot.context.properties.EnableConfigurationProperties(TrtLlmProperties.class)
    @org.springframework.context.annotation.Import(TrtLlmPropertiesConversion.class)
    static class PropertiesOnly {
    }
}
