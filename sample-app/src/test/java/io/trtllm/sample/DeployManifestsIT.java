package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.spring.autoconfigure.TrtLlmOpenAiProperties;
import io.trtllm.spring.autoconfigure.TrtLlmProperties;
import io.trtllm.spring.autoconfigure.TrtLlmPropertiesMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.BindContext;
import org.springframework.boot.context.properties.bind.BindHandler;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.ConfigurationPropertyName;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.core.env.StandardEnvironment;
import org.springframework.core.env.SystemEnvironmentPropertySource;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The manifests under deploy/ against the application they deploy (this app, as the image runs it, see
 * image/Containerfile): every probe and scrape path answers here, every metric a scaler or the gateway's endpoint
 * picker reads is in the Prometheus scrape, every environment variable binds to a property of the server, and
 * the objects refer to each other (labels, ports, names, the cache volume) and to what the image declares.
 */
@SuppressWarnings("unchecked") // YAML as maps and lists
class DeployManifestsIT extends SampleAppTestSupport {
    private static final Path DEPLOY = Path.of("..", "deploy");
    private static final Pattern METRIC = Pattern.compile("\\btrtllm_[a-z_]+\\b");

    /** One YAML document of a file under deploy/. */
    record Manifest(Path file, Map<String, Object> root) {
        @Nullable String kind() {
            return (String) root.get("kind");
        }
    }

    private static List<Manifest> manifests = List.of();
    private static Map<String, String> image = Map.of();

    @BeforeAll
    static void load() throws IOException {
        List<Manifest> all = new ArrayList<>();
        try (Stream<Path> files = Files.walk(DEPLOY)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
                // SafeConstructor: plain maps, lists and scalars only, whatever tags a file holds.
                var yaml = new Yaml(new SafeConstructor(new LoaderOptions()));
                for (Object doc : yaml.loadAll(Files.readString(file))) {
                    assertThat(doc).as(file + ": a YAML mapping").isInstanceOf(Map.class);
                    @SuppressWarnings("unchecked")
                    Map<String, Object> root = (Map<String, Object>) doc;
                    all.add(new Manifest(file, root));
                }
            }
        }
        manifests = List.copyOf(all);
        image = containerfile(Path.of("..", "image", "Containerfile"));
    }

    /** The Containerfile's USER, EXPOSE, VOLUME and ENV settings (ENV entries by variable name). */
    private static Map<String, String> containerfile(Path file) throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        String text = Files.readString(file).replace("\\\n", " ");
        for (String line : text.lines().map(String::strip).toList()) {
            if (line.startsWith("ENV ")) {
                for (String pair : line.substring(4).strip().split("\\s+")) {
                    int eq = pair.indexOf('=');
                    out.put(pair.substring(0, eq), pair.substring(eq + 1));
                }
            } else if (line.startsWith("USER ") || line.startsWith("EXPOSE ") || line.startsWith("VOLUME ")) {
                int space = line.indexOf(' ');
                out.put(line.substring(0, space), line.substring(space + 1).strip());
            }
        }
        return out;
    }

    private static Manifest only(String kind) {
        List<Manifest> found = manifests.stream().filter(m -> kind.equals(m.kind())).toList();
        assertThat(found).as("manifests of kind " + kind).hasSize(1);
        return found.getFirst();
    }

    private static Manifest file(String name) {
        return manifests.stream().filter(m -> m.file().getFileName().toString().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no deploy file " + name));
    }

    /** The value at {@code path} (map keys, or list indexes as numbers) in {@code m}, failing with file and path. */
    @SuppressWarnings("unchecked")
    private static <T> T at(Manifest m, Object... path) {
        Object node = m.root();
        StringBuilder where = new StringBuilder();
        for (Object step : path) {
            where.append('.').append(step);
            node = step instanceof Integer i ? ((List<Object>) node).get(i) : ((Map<String, Object>) node).get(step);
            assertThat(node).as(m.file() + ": " + where).isNotNull();
        }
        return (T) node;
    }

    private static Map<String, Object> serverContainer() {
        List<Map<String, Object>> containers = at(only("Deployment"), "spec", "template", "spec", "containers");
        assertThat(containers).hasSize(1);
        return containers.getFirst();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object node) {
        return (Map<String, Object>) node;
    }

    @Test
    void everyManifestIsAKubernetesObjectAndTheKustomizationListsThem() {
        Set<String> kinds = new LinkedHashSet<>();
        for (Manifest m : manifests) {
            if (m.file().getFileName().toString().endsWith("-values.yaml")) {
                continue; // Helm values, not an object
            }
            assertThat((String) at(m, "apiVersion")).isNotBlank();
            kinds.add(m.kind());
            if (!"Kustomization".equals(m.kind())) {
                assertThat((String) at(m, "metadata", "name")).matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
            }
        }
        assertThat(kinds).contains("Deployment", "Service", "PersistentVolumeClaim", "ServiceMonitor",
                "ScaledObject", "HTTPRoute", "Kustomization");
        List<String> resources = at(only("Kustomization"), "resources");
        try (Stream<Path> files = Files.list(DEPLOY.resolve("kubernetes"))) {
            assertThat(resources).containsExactlyInAnyOrderElementsOf(files.map(f -> f.getFileName().toString())
                    .filter(n -> n.endsWith(".yaml") && !n.equals("kustomization.yaml")).toList());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void everyProbeAnswersUpOnTheApp() {
        Map<String, Object> container = serverContainer();
        List<Map<String, Object>> ports = (List<Map<String, Object>>) container.get("ports");
        assertThat(ports).singleElement().satisfies(p -> {
            assertThat(p).containsEntry("name", "http");
            assertThat(String.valueOf(p.get("containerPort"))).isEqualTo(image.get("EXPOSE"))
                    .isEqualTo(image.get("SERVER_PORT"));
        });
        for (String probe : List.of("startupProbe", "livenessProbe", "readinessProbe")) {
            Map<String, Object> httpGet = map(map(container.get(probe)).get("httpGet"));
            assertThat(httpGet).as(probe).containsEntry("port", "http");
            String path = (String) httpGet.get("path");
            web.get().uri(path).exchange().expectStatus().isOk().expectBody().jsonPath("$.status").isEqualTo("UP");
        }
    }

    @Test
    void theScrapePathAndEveryMetricTheScalerAndTheGatewayReadExist() {
        String scrapePath = at(only("ServiceMonitor"), "spec", "endpoints", 0, "path");
        String scrape = web.get().uri(scrapePath).exchange().expectStatus().isOk()
                .expectBody(String.class).returnResult().getResponseBody();
        assertThat(scrape).isNotBlank();

        Set<String> metrics = new LinkedHashSet<>();
        List<Map<String, Object>> triggers = at(only("ScaledObject"), "spec", "triggers");
        for (Map<String, Object> trigger : triggers) {
            metrics.addAll(metricNames((String) map(trigger.get("metadata")).get("query")));
        }
        Map<String, String> flags = new LinkedHashMap<>();
        List<Map<String, Object>> flagList = at(file("inferencepool-values.yaml"), "inferenceExtension", "flags");
        flagList.forEach(f -> flags.put((String) f.get("name"), String.valueOf(f.get("value"))));
        assertThat(flags.get("model-server-metrics-path")).isEqualTo(scrapePath);
        for (String flag : List.of("total-queued-requests-metric", "total-running-requests-metric",
                "kv-cache-usage-percentage-metric")) {
            assertThat(flags.get(flag)).as(flag).matches(METRIC.pattern());
            metrics.add(flags.get(flag));
        }
        assertThat(metrics).contains("trtllm_requests_queued", "trtllm_kv_cache_usage_ratio");
        for (String metric : metrics) {
            assertThat(scrape.lines().anyMatch(l -> l.startsWith(metric + " ") || l.startsWith(metric + "{")))
                    .as("a series of %s in %s", metric, scrapePath).isTrue();
        }
    }

    private static List<String> metricNames(String query) {
        List<String> names = new ArrayList<>();
        Matcher m = METRIC.matcher(query);
        while (m.find()) {
            names.add(m.group());
        }
        assertThat(names).as("metrics in " + query).isNotEmpty();
        return names;
    }

    @Test
    void everyEnvironmentVariableBindsToAPropertyOfTheServer() throws IOException {
        List<Map<String, Object>> env = (List<Map<String, Object>>) serverContainer().get("env");
        String entrypoint = Files.readString(Path.of("..", "image", "trtllm-server"));
        for (Map<String, Object> variable : env) {
            String name = (String) variable.get("name");
            // A secret's value is not in the manifest: any printable value stands in for it.
            String value = variable.containsKey("value") ? String.valueOf(variable.get("value")) : "from-a-secret";
            if (!name.startsWith("TRTLLM_")) {
                assertThat(entrypoint).as(name + " is read by the image's entrypoint").contains("${" + name);
                continue;
            }
            assertThat(propertiesSetBy(name, value)).as(name + " sets a property of the server").hasSize(1);
        }
        // The check finds a name that sets nothing.
        assertThat(propertiesSetBy("TRTLLM_MAX_QUEUE_SIZES", "1")).isEmpty();
        assertThat(propertiesSetBy("TRTLLM_OPENAI_APIKEYS", "k")).isEmpty();
    }

    /**
     * The server's properties that environment variable {@code name} sets (Spring's relaxed binding decides which,
     * as in the server), after checking its value as the server does at startup.
     */
    private static List<String> propertiesSetBy(String name, String value) {
        var source = new SystemEnvironmentPropertySource(StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME,
                Map.of(name, value));
        Binder binder = new Binder(ConfigurationPropertySources.from(source));
        List<String> bound = new ArrayList<>();
        BindHandler recorder = new BindHandler() {
            @Override
            public Object onSuccess(ConfigurationPropertyName property, Bindable<?> target, BindContext context,
                                    Object result) {
                var from = context.getConfigurationProperty();
                if (from != null && from.getName().equals(property)) {
                    bound.add(property.toString());
                }
                return result;
            }
        };
        if (name.startsWith("TRTLLM_OPENAI_")) {
            var properties = new TrtLlmOpenAiProperties();
            binder.bind(TrtLlmOpenAiProperties.PREFIX, Bindable.ofInstance(properties), recorder);
            properties.afterPropertiesSet();
        } else {
            var properties = new TrtLlmProperties();
            binder.bind(TrtLlmProperties.PREFIX, Bindable.ofInstance(properties), recorder);
            TrtLlmPropertiesMapper.toLlmArgs(properties);
            TrtLlmPropertiesMapper.toChatOptions(properties.getChat());
        }
        return bound;
    }

    @Test
    void theCacheVolumeTmpAndUserAreWhatTheImageDeclares() {
        Manifest deployment = only("Deployment");
        Map<String, Object> podSpec = at(deployment, "spec", "template", "spec");
        Map<String, String> mounts = new LinkedHashMap<>();
        ((List<Map<String, Object>>) serverContainer().get("volumeMounts"))
                .forEach(v -> mounts.put((String) v.get("name"), (String) v.get("mountPath")));
        assertThat(mounts.get("cache")).isEqualTo(image.get("TRTLLM_CACHE_DIR"));
        assertThat(image.get("VOLUME")).isEqualTo("[\"" + image.get("TRTLLM_CACHE_DIR") + "\"]");
        assertThat(image.get("HF_HOME")).startsWith(image.get("TRTLLM_CACHE_DIR") + "/");
        assertThat(mounts.get("tmp")).isEqualTo("/tmp");
        assertThat(image.get("DJL_CACHE_DIR")).startsWith("/tmp/");

        Map<String, Object> volumes = new LinkedHashMap<>();
        ((List<Map<String, Object>>) podSpec.get("volumes")).forEach(v -> volumes.put((String) v.get("name"), v));
        String claim = (String) map(map(volumes.get("cache")).get("persistentVolumeClaim")).get("claimName");
        assertThat(claim).isEqualTo(at(only("PersistentVolumeClaim"), "metadata", "name"));
        assertThat((List<String>) at(only("PersistentVolumeClaim"), "spec", "accessModes")).contains("ReadWriteMany");

        Map<String, Object> security = map(podSpec.get("securityContext"));
        assertThat(security.get("runAsUser") + ":" + security.get("runAsGroup")).isEqualTo(image.get("USER"));
        assertThat(map(serverContainer().get("securityContext"))).containsEntry("readOnlyRootFilesystem", true);
    }

    @Test
    void theObjectsReferToEachOther() {
        Manifest deployment = only("Deployment");
        Map<String, Object> podLabels = at(deployment, "spec", "template", "metadata", "labels");
        assertThat(podLabels).containsAllEntriesOf(at(deployment, "spec", "selector", "matchLabels"));

        Manifest service = only("Service");
        assertThat(podLabels).containsAllEntriesOf(at(service, "spec", "selector"));
        Map<String, Object> servicePort = at(service, "spec", "ports", 0);
        assertThat(servicePort).containsEntry("targetPort", "http");

        Manifest monitor = only("ServiceMonitor");
        assertThat((Map<String, Object>) at(service, "metadata", "labels"))
                .containsAllEntriesOf(at(monitor, "spec", "selector", "matchLabels"));
        assertThat((String) at(monitor, "spec", "endpoints", 0, "port")).isEqualTo(servicePort.get("name"));

        String deploymentName = at(deployment, "metadata", "name");
        assertThat((String) at(only("ScaledObject"), "spec", "scaleTargetRef", "name")).isEqualTo(deploymentName);
        for (Map<String, Object> trigger : (List<Map<String, Object>>) at(only("ScaledObject"), "spec", "triggers")) {
            // Series carry job=<the Service's name> when the ServiceMonitor scrapes them.
            assertThat((String) map(trigger.get("metadata")).get("query"))
                    .contains("job=\"" + at(service, "metadata", "name") + "\"");
        }

        Manifest values = file("inferencepool-values.yaml");
        assertThat(podLabels).containsAllEntriesOf(at(values, "inferencePool", "modelServers", "matchLabels"));
        assertThat(String.valueOf((Object) at(values, "inferencePool", "targetPortNumber"))).isEqualTo(image.get("EXPOSE"));

        Manifest route = only("HTTPRoute");
        Map<String, Object> rule = at(route, "spec", "rules", 0);
        Map<String, Object> backend = ((List<Map<String, Object>>) rule.get("backendRefs")).getFirst();
        assertThat(backend).containsEntry("kind", "InferencePool").containsEntry("group", "inference.networking.k8s.io")
                .containsEntry("name", deploymentName);
        String prefix = (String) map(map(((List<Object>) rule.get("matches")).getFirst()).get("path")).get("value");
        web.get().uri(prefix + "/models").exchange().expectStatus().isOk()
                .expectBody().jsonPath("$.data[0].id").isEqualTo("stories15M");
    }
}
