package io.trtllm.testcontainers;

import com.github.dockerjava.api.model.Bind;
import com.github.dockerjava.api.model.HostConfig;
import com.github.dockerjava.api.model.Volume;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.utility.DockerImageName;
import org.testcontainers.utility.MountableFile;

/**
 * The trtllm server image (the OpenAI-compatible API of the sample app, built by {@code scripts/build-image.sh})
 * in a container: which model it serves, the API key it requires, where its engine cache lives.
 *
 * <pre>{@code
 * @Container
 * @ServiceConnection
 * static TrtLlmContainer trtllm = new TrtLlmContainer("localhost/trtllm-server:0.1.0-SNAPSHOT")
 *         .withModelDirectory(Path.of("/data/models/stories15M"))   // or .withModel("Qwen/Qwen3-0.6B")
 *         .withApiKey("test-key");
 * }</pre>
 *
 * <p>The container is ready when {@value #READINESS_PATH} answers 200, that is once the engine is loaded (on a
 * first start: the model converted or downloaded and its engine built into the cache). With Spring Boot's
 * {@code @ServiceConnection}, an application's Spring AI OpenAI client is pointed at it (base URL, API key and
 * model), see {@link io.trtllm.testcontainers.service.connection.TrtLlmConnectionDetails}.
 *
 * <p>Settings are passed as environment variables ({@code TRTLLM_MODEL}, {@code TRTLLM_OPENAI_API_KEY}, ...) or,
 * with {@link #withProperty}, as Spring command-line arguments; everything the image reads is in
 * docs/OPERATIONS.md.
 */
public class TrtLlmContainer extends GenericContainer<TrtLlmContainer> {
    /** Port of the HTTP server in the container (API and Actuator). */
    public static final int HTTP_PORT = 8080;
    /** The engine cache (converted builtin models, built engines, Hugging Face downloads) in the container. */
    public static final String CACHE_DIR = "/var/cache/trtllm";
    /** Where {@link #withModelDirectory} puts a model directory in the container. */
    public static final String MODELS_DIR = "/models";
    /** The readiness probe: 200 once the engine serves. */
    public static final String READINESS_PATH = "/actuator/health/readiness";
    /** The liveness probe. */
    public static final String LIVENESS_PATH = "/actuator/health/liveness";
    /** The path of the OpenAI-compatible API. */
    public static final String API_PATH = "/v1";
    /** Model the image serves when none is set: the builtin demo model (fetched from npm on first start). */
    public static final String DEFAULT_MODEL = "stories15M";

    private static final Pattern SIMPLE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    private static final Pattern PROPERTY_NAME = Pattern.compile("[a-z0-9][a-z0-9.\\-\\[\\]]{0,199}");
    private static final Duration STARTUP_TIMEOUT = Duration.ofMinutes(5);

    private @Nullable String model;
    private @Nullable String modelName;
    private @Nullable String apiKey;
    private @Nullable String cacheVolume;
    private final List<String> arguments = new ArrayList<>();

    /** A container of {@code image}, e.g. {@code "localhost/trtllm-server:0.1.0-SNAPSHOT"}. */
    public TrtLlmContainer(String image) {
        this(DockerImageName.parse(image));
    }

    /** A container of {@code image}. */
    public TrtLlmContainer(DockerImageName image) {
        super(image);
        withExposedPorts(HTTP_PORT);
        waitingFor(Wait.forHttp(READINESS_PATH).forPort(HTTP_PORT).forStatusCode(200)
                .withStartupTimeout(STARTUP_TIMEOUT));
    }

    /**
     * Serves {@code model} as the image resolves it: a builtin name ({@code stories15M}), a Hugging Face Hub id
     * ({@code org/name[@revision]}, downloaded in the container) or a directory inside the container.
     */
    public TrtLlmContainer withModel(String model) {
        this.model = requireText(model, "model");
        return self();
    }

    /**
     * Copies the Hugging Face model directory {@code hostDirectory} ({@code config.json}, {@code *.safetensors},
     * {@code tokenizer.json}) into the container under {@value #MODELS_DIR} and serves it; clients name it by
     * the directory's name unless {@link #withModelName} says otherwise. Copied, not mounted, so that it works
     * with a remote Docker host too.
     *
     * @throws IllegalArgumentException if {@code hostDirectory} is not a directory with a {@code config.json}
     */
    public TrtLlmContainer withModelDirectory(Path hostDirectory) {
        Path dir = hostDirectory.toAbsolutePath().normalize();
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new IllegalArgumentException("model directory " + dir + " has no config.json");
        }
        Path fileName = dir.getFileName();
        String name = fileName != null && SIMPLE_NAME.matcher(fileName.toString()).matches()
                ? fileName.toString() : "model";
        String inContainer = MODELS_DIR + "/" + name;
        withCopyFileToContainer(MountableFile.forHostPath(dir), inContainer);
        this.model = inContainer;
        if (modelName == null) {
            this.modelName = name;
        }
        return self();
    }

    /** The model id clients send and {@code /v1/models} lists ({@code trtllm.openai.model-name}). */
    public TrtLlmContainer withModelName(String modelName) {
        this.modelName = requireText(modelName, "model name");
        return self();
    }

    /**
     * Requires {@code apiKey} as a bearer token on every API request ({@code trtllm.openai.api-key}); without
     * one, the API is open.
     *
     * @throws IllegalArgumentException if the key is blank or holds whitespace or control characters
     */
    public TrtLlmContainer withApiKey(String apiKey) {
        Objects.requireNonNull(apiKey, "apiKey");
        if (apiKey.isEmpty() || !apiKey.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            throw new IllegalArgumentException("API key must be printable ASCII without spaces");
        }
        this.apiKey = apiKey;
        return self();
    }

    /**
     * Mounts the named volume {@code volumeName} (created if missing) as the engine cache, so that converted
     * models and built engines outlive the container and are shared with the next one.
     */
    public TrtLlmContainer withCacheVolume(String volumeName) {
        if (!SIMPLE_NAME.matcher(Objects.requireNonNull(volumeName, "volumeName")).matches()) {
            throw new IllegalArgumentException("volume name must match " + SIMPLE_NAME.pattern() + ": '"
                    + volumeName + "'");
        }
        if (cacheVolume == null) { // one modifier, which mounts the volume named last
            withCreateContainerCmdModifier(cmd -> {
                HostConfig host = Objects.requireNonNullElseGet(cmd.getHostConfig(), HostConfig::new);
                List<Bind> binds = new ArrayList<>(host.getBinds() == null ? List.of() : List.of(host.getBinds()));
                binds.add(new Bind(Objects.requireNonNull(cacheVolume), new Volume(CACHE_DIR)));
                cmd.withHostConfig(host.withBinds(binds));
            });
        }
        this.cacheVolume = volumeName;
        return self();
    }

    /**
     * Sets a Spring property of the server as a command-line argument ({@code --name=value}), e.g.
     * {@code withProperty("trtllm.max-batch-size", "8")}.
     */
    public TrtLlmContainer withProperty(String name, String value) {
        if (!PROPERTY_NAME.matcher(Objects.requireNonNull(name, "name")).matches()) {
            throw new IllegalArgumentException("property name must be lower-case kebab/dotted: '" + name + "'");
        }
        Objects.requireNonNull(value, "value");
        if (value.chars().anyMatch(c -> c < 0x20)) {
            throw new IllegalArgumentException("value of " + name + " has control characters");
        }
        arguments.add("--" + name + "=" + value);
        return self();
    }

    @Override
    protected void configure() {
        if (model != null) {
            withEnv("TRTLLM_MODEL", model);
        }
        if (modelName != null) {
            withEnv("TRTLLM_OPENAI_MODEL_NAME", modelName);
        }
        if (apiKey != null) {
            withEnv("TRTLLM_OPENAI_API_KEY", apiKey);
        }
        if (!arguments.isEmpty()) {
            setCommand(arguments.toArray(String[]::new));
        }
    }

    /** The server's root URL on the host, e.g. {@code http://localhost:32771} (Actuator is under it). */
    public String getBaseUrl() {
        return "http://" + getHost() + ":" + getMappedPort(HTTP_PORT);
    }

    /** The OpenAI-compatible API's base URL, e.g. {@code http://localhost:32771/v1}. */
    public String getOpenAiBaseUrl() {
        return getBaseUrl() + API_PATH;
    }

    /** The API key requests must carry, or null when the API is open. */
    public @Nullable String getApiKey() {
        return apiKey;
    }

    /** The model id clients send: set by {@link #withModelName}, else what the server derives from its model. */
    public String getModelName() {
        if (modelName != null) {
            return modelName;
        }
        return model != null ? model : DEFAULT_MODEL;
    }

    private static String requireText(String value, String what) {
        Objects.requireNonNull(value, what);
        if (value.isBlank() || value.chars().anyMatch(c -> c < 0x20)) {
            throw new IllegalArgumentException(what + " must be non-blank text without control characters");
        }
        return value;
    }
}
