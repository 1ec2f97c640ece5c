package io.trtllm.testcontainers;

import com.github.dockerjava.api.exception.NotFoundException;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.builtin.BuiltinModels;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.testcontainers.DockerClientFactory;

/**
 * The server image the container tests run (system property {@code trtllm.image}, set by the build to the tag
 * {@code scripts/build-image.sh} gives), and the condition they run under: a Docker-compatible engine (here
 * podman's API socket, through {@code DOCKER_HOST}) that has the image. Without either the tests are skipped,
 * saying why; with {@code TRTLLM_REQUIRE_CONTAINERS=true} (CI) they fail instead.
 */
final class ServerImage implements ExecutionCondition {
    static final String NAME = System.getProperty("trtllm.image", "localhost/trtllm-server:latest");

    /** The host's converted stories15M (a Hugging Face directory), fetched and converted if not yet there. */
    static Path stories15M() {
        return BuiltinModels.resolve("stories15M", CacheDirectory.resolve(null));
    }

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        String problem = null;
        if (!DockerClientFactory.instance().isDockerAvailable()) {
            problem = "no Docker-compatible engine (DOCKER_HOST=" + System.getenv("DOCKER_HOST")
                    + "; for podman: podman system service, see docs/OPERATIONS.md)";
        } else {
            try {
                DockerClientFactory.instance().client().inspectImageCmd(NAME).exec();
            } catch (NotFoundException e) {
                problem = "image " + NAME + " not found; build it with scripts/build-image.sh";
            }
        }
        if (problem == null) {
            return ConditionEvaluationResult.enabled("image " + NAME + " is there");
        }
        if ("true".equalsIgnoreCase(System.getenv("TRTLLM_REQUIRE_CONTAINERS"))) {
            throw new IllegalStateException(problem + " (TRTLLM_REQUIRE_CONTAINERS is set)");
        }
        return ConditionEvaluationResult.disabled(problem);
    }
}
