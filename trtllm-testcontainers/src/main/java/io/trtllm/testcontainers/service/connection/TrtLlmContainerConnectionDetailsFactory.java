package io.trtllm.testcontainers.service.connection;

import io.trtllm.testcontainers.TrtLlmContainer;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.testcontainers.service.connection.ContainerConnectionDetailsFactory;
import org.springframework.boot.testcontainers.service.connection.ContainerConnectionSource;

/**
 * {@link TrtLlmConnectionDetails} of a {@code @ServiceConnection} {@link TrtLlmContainer} (registered in
 * {@code META-INF/spring.factories}). The URL is read when it is asked for, so after the container started.
 */
class TrtLlmContainerConnectionDetailsFactory
        extends ContainerConnectionDetailsFactory<TrtLlmContainer, TrtLlmConnectionDetails> {

    @Override
    protected TrtLlmConnectionDetails getContainerConnectionDetails(ContainerConnectionSource<TrtLlmContainer> source) {
        return new TrtLlmContainerConnectionDetails(source);
    }

    private static final class TrtLlmContainerConnectionDetails extends ContainerConnectionDetails<TrtLlmContainer>
            implements TrtLlmConnectionDetails {

        private TrtLlmContainerConnectionDetails(ContainerConnectionSource<TrtLlmContainer> source) {
            super(source);
        }

        @Override
        public String getBaseUrl() {
            return getContainer().getOpenAiBaseUrl();
        }

        @Override
        public @Nullable String getApiKey() {
            return getContainer().getApiKey();
        }

        @Override
        public String getModel() {
            return getContainer().getModelName();
        }
    }
}
