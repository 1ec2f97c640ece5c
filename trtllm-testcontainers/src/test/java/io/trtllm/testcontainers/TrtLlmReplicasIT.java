package io.trtllm.testcontainers;

import static org.assertj.core.api.Assertions.assertThat;

import com.jayway.jsonpath.DocumentContext;
import com.jayway.jsonpath.JsonPath;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.output.Slf4jLogConsumer;
import org.testcontainers.lifecycle.Startables;

/**
 * Two replicas of the server image started at once on one empty engine-cache volume, as a Deployment with a
 * shared PersistentVolumeClaim starts them: the engine cache's file locks let one build the engine while the
 * other waits and then loads what it built; both on a read-only root file system. Then what an orchestrator and a
 * scraper see of a replica: the liveness and readiness probes, health with the engine's details, the Prometheus
 * meters the deploy/ manifests use, the API key, the non-root user and the JVM flags the image bakes in.
 */
@ExtendWith(ServerImage.class)
class TrtLlmReplicasIT {
    private static final String API_KEY = "replicas-" + Long.toHexString(System.nanoTime());
    private static final String VOLUME = "trtllm-it-cache-" + Long.toHexString(System.nanoTime());
    private static final Pattern ENGINE_LOAD = Pattern.compile("^trtllm_engine_loads_total\\{.*kind=\"([a-z_]+)\".*} 1\\.0$");
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private static final List<TrtLlmContainer> REPLICAS = new ArrayList<>();

    @BeforeAll
    static void startTwoReplicasOnOneCacheVolume() {
        Path model = ServerImage.stories15M();
        for (String name : List.of("replica-a", "replica-b")) {
            REPLICAS.add(new TrtLlmContainer(ServerImage.NAME)
                    .withModelDirectory(model)
                    .withApiKey(API_KEY)
                    // As deploy/kubernetes/deployment.yaml: the scrape open to the gateway's endpoint picker.
                    .withEnv("TRTLLM_OPENAI_OPEN_ACTUATOR_ENDPOINTS", "prometheus")
                    .withCacheVolume(VOLUME)
                    // As deploy/kubernetes/deployment.yaml runs them: read-only root, /tmp writable (and exec:
                    // the natives the jars carry are unpacked and loaded there).
                    .withCreateContainerCmdModifier(cmd -> cmd.getHostConfig().withReadonlyRootfs(true))
                    .withTmpFs(Map.of("/tmp", "rw,exec,nosuid,size=1g"))
                    .withLogConsumer(new Slf4jLogConsumer(LoggerFactory.getLogger("trtllm-" + name))));
        }
        Startables.deepStart(REPLICAS.stream()).join();
    }

    @AfterAll
    static void stopAndRemoveTheVolume() {
        REPLICAS.forEach(TrtLlmContainer::stop);
        DockerClientFactory.instance().client().removeVolumeCmd(VOLUME).exec();
    }

    private static HttpResponse<String> get(TrtLlmContainer replica, String path, String... headers)
            throws IOException, InterruptedException {
        var request = HttpRequest.newBuilder(URI.create(replica.getBaseUrl() + path)).timeout(Duration.ofSeconds(60));
        if (headers.length > 0) {
            request.headers(headers);
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void oneReplicaBuiltTheEngineAndTheOtherLoadedItFromTheSharedCache() throws Exception {
        List<String> kinds = new ArrayList<>();
        for (TrtLlmContainer replica : REPLICAS) {
            String scrape = get(replica, "/actuator/prometheus").body();
            scrape.lines().map(ENGINE_LOAD::matcher).filter(Matcher::matches).forEach(m -> kinds.add(m.group(1)));
        }
        assertThat(kinds).containsExactlyInAnyOrder("built", "loaded_from_cache");
    }

    @Test
    void probesAndHealthAreUp() throws Exception {
        TrtLlmContainer replica = REPLICAS.getFirst();
        for (String probe : List.of(TrtLlmContainer.LIVENESS_PATH, TrtLlmContainer.READINESS_PATH)) {
            var response = get(replica, probe);
            assertThat(response.statusCode()).as(probe).isEqualTo(200);
            assertThat(response.body()).as(probe).contains("\"status\":\"UP\"");
        }
        var anonymous = get(replica, "/actuator/health");
        assertThat(anonymous.statusCode()).isEqualTo(200);
        assertThat(anonymous.body()).as("no details without the key").doesNotContain("components");
        var health = get(replica, "/actuator/health", "Authorization", "Bearer " + API_KEY);
        assertThat(health.statusCode()).isEqualTo(200);
        DocumentContext json = JsonPath.parse(health.body());
        assertThat(json.read("$.components.trtllm.status", String.class)).isEqualTo("UP");
        assertThat(json.read("$.components.trtllm.details.model", String.class)).isEqualTo("/models/stories15M");
        assertThat(json.read("$.components.livenessState.status", String.class)).isEqualTo("UP");
        assertThat(json.read("$.components.readinessState.status", String.class)).isEqualTo("UP");
    }

    @Test
    void prometheusHasTheEnginesMetersAfterARequest() throws Exception {
        TrtLlmContainer replica = REPLICAS.getFirst();
        var completion = HTTP.send(HttpRequest.newBuilder(URI.create(replica.getOpenAiBaseUrl() + "/completions"))
                .header("Authorization", "Bearer " + API_KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"model\": \"stories15M\", \"prompt\": \"Once upon a time\", \"max_tokens\": 8}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(completion.statusCode()).as(completion.body()).isEqualTo(200);

        var scrape = get(replica, "/actuator/prometheus");
        assertThat(scrape.statusCode()).as("the scrape is open, as the deployment sets it").isEqualTo(200);
        assertThat(get(replica, "/actuator/metrics").statusCode()).as("the rest of Actuator needs the key").isEqualTo(401);
        assertThat(scrape.body()).contains("trtllm_requests_queued ", "trtllm_requests_active ",
                "trtllm_kv_cache_usage_ratio ", "trtllm_kv_cache_blocks{", "trtllm_iterations_total ",
                "trtllm_request_duration_seconds_count ", "jvm_memory_used_bytes{");
        assertThat(scrape.body().lines().filter(l -> l.startsWith("trtllm_tokens_total{") && l.contains("type=\"generated\"")))
                .singleElement()
                .satisfies(l -> assertThat(Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).isGreaterThanOrEqualTo(8));
    }

    @Test
    void theApiRequiresTheKeyFromTheEnvironment() throws Exception {
        TrtLlmContainer replica = REPLICAS.getFirst();
        assertThat(get(replica, "/v1/models").statusCode()).isEqualTo(401);
        assertThat(get(replica, "/v1/models", "Authorization", "Bearer wrong").statusCode()).isEqualTo(401);
        var models = get(replica, "/v1/models", "Authorization", "Bearer " + API_KEY);
        assertThat(models.statusCode()).isEqualTo(200);
        assertThat(models.body()).contains("\"id\":\"stories15M\"");
    }

    @Test
    void theServerRunsAsTheNonRootUserOnAReadOnlyRootWithTheBakedInJvmFlags() throws Exception {
        TrtLlmContainer replica = REPLICAS.getFirst();
        assertThat(replica.getContainerInfo().getConfig().getUser()).isEqualTo("10001:10001");
        // The image has no coreutils: dash's read over /proc/1/status (real, effective, saved, fs uid).
        var uid = replica.execInContainer("/bin/sh", "-c",
                "while read -r key value rest; do [ \"$key\" = Uid: ] && echo \"$value $rest\"; done < /proc/1/status");
        assertThat(uid.getStdout().strip().split("\\s+")).containsOnly("10001");

        assertThat(replica.getContainerInfo().getHostConfig().getReadonlyRootfs()).isTrue();
        var write = replica.execInContainer("/bin/sh", "-c", "echo x > /app/written");
        assertThat(write.getExitCode()).isNotZero();
        assertThat(write.getStderr()).contains("Read-only file system");

        var commandLine = replica.execInContainer("/opt/java/bin/jcmd", "1", "VM.command_line");
        assertThat(commandLine.getExitCode()).as(commandLine.getStderr()).isZero();
        assertThat(commandLine.getStdout()).contains("--add-modules=jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC", "-XX:MaxRAMPercentage=50");
        Path thp = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
        boolean hostOffersThp = Files.isReadable(thp)
                && Stream.of("[always]", "[madvise]").anyMatch(Files.readString(thp)::contains);
        if (hostOffersThp) {
            assertThat(commandLine.getStdout()).contains("-XX:+UseTransparentHugePages");
        } else {
            assertThat(commandLine.getStdout()).doesNotContain("-XX:+UseTransparentHugePages");
        }
    }
}
