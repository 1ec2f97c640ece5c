package io.trtllm.api.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.model.DType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Every spelling {@code --dtype} / {@code trtllm.dtype} took before the enum, and the tensor type each names. */
class DtypeTests {

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "auto, AUTO, auto, ", "AUTO, AUTO, auto, ", "' auto ', AUTO, auto, ",
            "float32, FLOAT32, float32, F32", "f32, FLOAT32, float32, F32", "FP32, FLOAT32, float32, F32",
            "float16, FLOAT16, float16, F16", "f16, FLOAT16, float16, F16", "fp16, FLOAT16, float16, F16",
            "half, FLOAT16, float16, F16",
            "bfloat16, BFLOAT16, bfloat16, BF16", "BF16, BFLOAT16, bfloat16, BF16",
            "fp8, FP8, fp8, F8_E4M3", "FP8_E4M3, FP8, fp8, F8_E4M3", "e4m3, FP8, fp8, F8_E4M3", "float8, FP8, fp8, F8_E4M3"})
    void parsesEverySpellingToOneName(String spelling, Dtype dtype, String id, DType tensorType) {
        assertThat(Dtype.parse(spelling)).isEqualTo(dtype);
        assertThat(dtype.id()).isEqualTo(id);
        assertThat(Dtype.parse(dtype.id())).isEqualTo(dtype);
        assertThat(DType.of(dtype)).isEqualTo(tensorType);
        assertThat(DType.of(dtype, DType.F16)).isEqualTo(tensorType != null ? tensorType : DType.F16);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"", "int8", "I8", "e5m2", "fp4", "float64", "bfloat", "f 16"})
    void refusesOtherValuesNamingThem(String value) {
        assertThatThrownBy(() -> Dtype.parse(value))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("dtype '" + value + "' is not one of [auto, float32, float16, bfloat16, fp8]");
    }

    /** fp8 names the KV cache's elements only: as the weights' dtype it is refused, pointing at quantization fp8. */
    @org.junit.jupiter.api.Test
    void fp8IsNoWeightDtype() {
        assertThatThrownBy(() -> BuildConfig.builder(64).dtype("fp8").build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("dtype fp8 is for the KV cache (kv_cache_config.dtype); FP8 weights are quantization fp8 (with "
                        + "dtype auto, bfloat16 or float16)");
        assertThatThrownBy(() -> io.trtllm.api.LlmArgs.builder("stories15M").dtype("fp8").build())
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("quantization fp8");
        assertThat(BuildConfig.builder(64).dtype("bf16").build().dtype()).isEqualTo(Dtype.BFLOAT16);
        assertThat(KvCacheConfig.defaults().withDtype("fp8").dtype()).isEqualTo(Dtype.FP8);
    }
}
