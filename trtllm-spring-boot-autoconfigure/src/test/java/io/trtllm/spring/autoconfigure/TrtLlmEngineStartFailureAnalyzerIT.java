package io.trtllm.spring.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.test.context.assertj.AssertableApplicationContext;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * Engine start failures end as a failure analysis — a Description naming what was asked for and what
 * went wrong, an Action naming what to change — each from a real start of the auto-configuration.
 */
class TrtLlmEngineStartFailureAnalyzerIT {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(TrtLlmAutoConfiguration.class));

    @Test
    void backendCudaWithoutAGpuSaysToUseAutoOrCpu() {
        runner.withPropertyValues("trtllm.backend=cuda").run(context -> {
            FailureAnalysis analysis = analyze(context);
            assertThat(analysis.getDescription()).contains("trtllm.backend=cuda").contains("needs a usable CUDA device");
            assertThat(analysis.getAction()).contains("trtllm.backend=auto");
        });
    }

    @Test
    void anUnreachableHubSaysHowToReachItOrGoOffline(@TempDir Path hfHome) throws Exception {
        int closedPort;
        try (var socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        runner.withPropertyValues("trtllm.model=no-org/no-model", "trtllm.hub.endpoint=http://127.0.0.1:" + closedPort,
                "trtllm.cache.dir=" + hfHome).run(context -> {
            FailureAnalysis analysis = analyze(context);
            assertThat(analysis.getDescription()).contains("trtllm.model=no-org/no-model")
                    .contains("cannot reach the Hugging Face Hub at http://127.0.0.1:" + closedPort);
            assertThat(analysis.getAction()).contains("trtllm.hub.offline=true").contains("trtllm.hub.endpoint");
        });
    }

    @Test
    void aModelTheHubDoesNotHaveSaysToCheckTheIdOrToken() throws Exception {
        HttpServer hub = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        hub.createContext("/", exchange -> {
            exchange.sendResponseHeaders(404, -1);
            exchange.close();
        });
        hub.start();
        try {
            runner.withPropertyValues("trtllm.model=no-org/no-model",
                    "trtllm.hub.endpoint=http://127.0.0.1:" + hub.getAddress().getPort()).run(context -> {
                FailureAnalysis analysis = analyze(context);
                assertThat(analysis.getDescription()).contains("HTTP 404");
                assertThat(analysis.getAction()).contains("trtllm.model").contains("trtllm.hub.token");
            });
        } finally {
            hub.stop(0);
        }
    }

    @Test
    void aBadCheckpointSaysWhatAModelDirectoryHolds(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"NoSuchForCausalLM\"]}");
        runner.withPropertyValues("trtllm.model=" + dir).run(context -> {
            FailureAnalysis analysis = analyze(context);
            assertThat(analysis.getDescription()).contains("trtllm.model=" + dir);
            assertThat(analysis.getAction()).contains("config.json, *.safetensors, tokenizer.json");
        });
    }

    private static FailureAnalysis analyze(AssertableApplicationContext context) {
        assertThat(context).hasFailed();
        FailureAnalysis analysis = new TrtLlmEngineStartFailureAnalyzer().analyze(context.getStartupFailure());
        assertThat(analysis).as("no analysis of %s", context.getStartupFailure()).isNotNull();
        return analysis;
    }
}
