package io.trtllm.spring.autoconfigure;

import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.Quantization;
import org.springframework.boot.context.properties.ConfigurationPropertiesBinding;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.convert.converter.Converter;

/**
 * How {@code trtllm.*} text becomes the core's enums: through their own parsers, so a property takes
 * every spelling the CLI takes ({@code bf16}, {@code fp16}, {@code half}) and a wrong value fails with the
 * core's message listing the accepted ones (Spring's default enum conversion knows neither).
 */
@Configuration(proxyBeanMethods = false)
public final class TrtLlmPropertiesConversion {

    @Bean
    @ConfigurationPropertiesBinding
    static DtypeConverter trtLlmDtypeConverter() {
        return new DtypeConverter();
    }

    @Bean
    @ConfigurationPropertiesBinding
    static QuantizationConverter trtLlmQuantizationConverter() {
        return new QuantizationConverter();
    }

    /** {@link Dtype#parse}. */
    static final class DtypeConverter implements Converter<String, Dtype> {
        @Override
        public Dtype convert(String source) {
            return Dtype.parse(source);
        }
    }

    /** {@link Quantization#parse}. */
    static final class QuantizationConverter implements Converter<String, Quantization> {
        @Override
        public Quantization convert(String source) {
            return Quantization.parse(source);
        }
    }
}
