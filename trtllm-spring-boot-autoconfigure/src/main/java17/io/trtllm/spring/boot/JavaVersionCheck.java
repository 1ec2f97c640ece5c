package io.trtllm.spring.boot;

import org.springframework.boot.EnvironmentPostProcessor;
import org.springframework.boot.SpringApplication;
import org.springframework.core.env.ConfigurableEnvironment;

/**
 * Fails startup on a JVM older than the engine needs, before anything else of trtllm loads. Compiled for
 * Java 17 (Spring Boot 4's baseline; its own source root, {@code src/main/java17}) so that it loads where
 * the engine's classes cannot: there {@code @ConditionalOnClass(LLM.class)} would quietly turn the
 * auto-configuration off (the class file's version is refused, which the condition reads as "absent"),
 * and the application would die later wanting a {@code ChatModel} bean, or run without one.
 *
 * <p>Skipped when {@code spring.ai.model.chat} names another provider: the starter is then off by choice.
 */
public final class JavaVersionCheck implements EnvironmentPostProcessor {
    /** The oldest Java the engine runs on (the Vector API and FFM as the engine uses them). */
    public static final int REQUIRED = 25;

    @Override
    public void postProcessEnvironment(ConfigurableEnvironment environment, SpringApplication application) {
        String chatModel = environment.getProperty("spring.ai.model.chat");
        if (chatModel != null && !chatModel.strip().equalsIgnoreCase("trtllm")) {
            return;
        }
        check(Runtime.version().feature(), System.getProperty("java.vm.vendor", "unknown vendor") + " "
                + System.getProperty("java.runtime.version", Runtime.version().toString()));
    }

    /**
     * @throws UnsupportedJavaVersionException when {@code feature} is older than {@link #REQUIRED}
     */
    static void check(int feature, String description) {
        if (feature < REQUIRED) {
            throw new UnsupportedJavaVersionException(REQUIRED, feature, description);
        }
    }
}
