package io.trtllm.spring.autoconfigure;

import io.trtllm.api.LLM;
import java.nio.file.Path;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.core.env.Environment;

/** The name the served model goes by: in the OpenAI API's responses and in the meters' {@code model_name}. */
final class ServedModel {
    private ServedModel() {
    }

    /** {@code trtllm.openai.model-name} if set, else {@link #configuredOrDirectory}. */
    static String name(LLM llm, ObjectProvider<TrtLlmProperties> engineProperties, Environment environment) {
        String name = Binder.get(environment).bind(TrtLlmOpenAiProperties.PREFIX + ".model-name", String.class)
                .orElse("");
        return name.isBlank() ? configuredOrDirectory(llm, engineProperties) : name;
    }

    /** The configured {@code trtllm.model}, or, for an {@code LLM} of the application's own, its directory's name. */
    static String configuredOrDirectory(LLM llm, ObjectProvider<TrtLlmProperties> engineProperties) {
        TrtLlmProperties engine = engineProperties.getIfUnique();
        if (engine != null) {
            return engine.getModel();
        }
        Path dir = llm.modelDirectory();
        Path name = dir.getFileName();
        return name != null ? name.toString() : dir.toString();
    }
}
