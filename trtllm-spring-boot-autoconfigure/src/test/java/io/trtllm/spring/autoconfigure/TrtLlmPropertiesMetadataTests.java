package io.trtllm.spring.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.springframework.beans.BeanWrapperImpl;
import org.springframework.boot.convert.ApplicationConversionService;
import org.springframework.core.convert.TypeDescriptor;
import tools.jackson.databind.json.JsonMapper;

/**
 * The configuration metadata IDEs read ({@code META-INF/spring-configuration-metadata.json}, the
 * processor's output merged with {@code additional-spring-configuration-metadata.json}) against the
 * properties classes themselves: every property is documented and states its default (an empty list may
 * go unstated), and that default
 * is the one a fresh properties object holds — which is the core's constant, so the metadata cannot
 * drift from the engine.
 */
class TrtLlmPropertiesMetadataTests {
    /** The top-level properties classes, by prefix. */
    private static final Map<String, Object> ROOTS = Map.of(
            TrtLlmProperties.PREFIX + ".", new TrtLlmProperties(),
            TrtLlmOpenAiProperties.PREFIX + ".", new TrtLlmOpenAiProperties(),
            TrtLlmHttpServerProperties.PREFIX + ".", new TrtLlmHttpServerProperties(),
            TrtLlmMetricsProperties.PREFIX + ".", new TrtLlmMetricsProperties());

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> properties() throws Exception {
        try (InputStream in = TrtLlmPropertiesMetadataTests.class.getResourceAsStream(
                "/META-INF/spring-configuration-metadata.json")) {
            Map<String, Object> metadata = JsonMapper.builder().build().readValue(Objects.requireNonNull(in), Map.class);
            return (List<Map<String, Object>>) metadata.get("properties");
        }
    }

    @Test
    void everyPropertyIsDescribedAndStatesTheDefaultItHas() throws Exception {
        List<String> problems = new ArrayList<>();
        int checked = 0;
        for (Map<String, Object> property : properties()) {
            String name = (String) property.get("name");
            if (!name.startsWith(TrtLlmProperties.PREFIX + ".")) {
                continue;
            }
            checked++;
            if (!(property.get("description") instanceof String d) || d.isBlank()) {
                problems.add(name + ": no description");
            }
            var bean = bean(name);
            TypeDescriptor type = bean.wrapper().getPropertyTypeDescriptor(bean.path());
            Object actual = bean.wrapper().getPropertyValue(bean.path());
            Object stated = property.get("defaultValue");
            if (actual == null) {
                if (stated != null) {
                    problems.add(name + ": metadata says default " + stated + ", but it is unset");
                }
            } else if (stated == null) {
                // An empty list is what IDEs show for a list without a stated default: nothing to state.
                if (!(actual instanceof Collection<?> c && c.isEmpty())) {
                    problems.add(name + ": default " + actual + " is not in the metadata");
                }
            } else if (!Objects.equals(convert(stated, Objects.requireNonNull(type)), actual)) {
                problems.add(name + ": metadata says default " + stated + ", but it is " + actual);
            }
        }
        assertThat(checked).isGreaterThan(40);
        assertThat(problems).isEmpty();
    }

    @Test
    void theOldChatOptionsKeysAreDeprecatedNamingTheirReplacement() throws Exception {
        List<String> deprecated = new ArrayList<>();
        for (Map<String, Object> property : properties()) {
            String name = (String) property.get("name");
            if (name.startsWith("trtllm.chat.options.")) {
                @SuppressWarnings("unchecked")
                var deprecation = (Map<String, Object>) property.get("deprecation");
                assertThat(deprecation).as(name).isNotNull();
                assertThat(deprecation.get("replacement")).as(name)
                        .isEqualTo(name.replace("trtllm.chat.options.", "trtllm.chat."));
                deprecated.add(name.substring("trtllm.chat.options.".length()));
            }
        }
        assertThat(deprecated).containsExactlyInAnyOrder("model", "temperature", "top-k", "top-p", "max-tokens", "stop",
                "presence-penalty", "frequency-penalty", "repetition-penalty", "seed");
    }

    private record Bean(BeanWrapperImpl wrapper, String path) {
    }

    /** The bean and camel-case path of a property name ({@code trtllm.kv-cache.max-tokens}: kvCache.maxTokens). */
    private static Bean bean(String name) {
        for (var root : ROOTS.entrySet()) {
            boolean longest = ROOTS.keySet().stream().noneMatch(p -> p.length() > root.getKey().length() && name.startsWith(p));
            if (name.startsWith(root.getKey()) && longest) {
                String rest = name.substring(root.getKey().length());
                StringBuilder path = new StringBuilder();
                boolean upper = false;
                for (char c : rest.toCharArray()) {
                    if (c == '-') {
                        upper = true;
                    } else {
                        path.append(upper ? Character.toUpperCase(c) : c);
                        upper = false;
                    }
                }
                return new Bean(new BeanWrapperImpl(root.getValue()), path.toString());
            }
        }
        throw new AssertionError("no properties class for " + name);
    }

    private static @Nullable Object convert(Object stated, TypeDescriptor type) {
        if (stated instanceof Collection<?> c && c.isEmpty()) {
            return new ArrayList<>();
        }
        if (stated instanceof Collection<?> c) { // a JSON array: its elements, as a property value lists them
            return ApplicationConversionService.getSharedInstance().convert(
                    String.join(",", c.stream().map(String::valueOf).toList()), type);
        }
        return ApplicationConversionService.getSharedInstance().convert(String.valueOf(stated), type);
    }
}
