package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.model.DType;
import org.junit.jupiter.api.Test;

/** Which KV cache element types each backend takes, checked before anything is built (no GPU needed). */
class KvCacheTypeIT {
    private static KvCacheConfig kv(String dtype) {
        return KvCacheConfig.defaults().withDtype(dtype);
    }

    @Test
    void cudaTakesTheWeightTypeOrFp8() {
        assertThatCode(() -> Runners.checkCudaKvType(kv("auto"), DType.BF16)).doesNotThrowAnyException();
        assertThatCode(() -> Runners.checkCudaKvType(kv("bfloat16"), DType.BF16)).doesNotThrowAnyException();
        assertThatCode(() -> Runners.checkCudaKvType(kv("fp8"), DType.BF16)).doesNotThrowAnyException();
        assertThatCode(() -> Runners.checkCudaKvType(kv("fp8"), DType.F16)).doesNotThrowAnyException();
        assertThatThrownBy(() -> Runners.checkCudaKvType(kv("float16"), DType.BF16))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("kv_cache_config.dtype F16 is not supported by the CUDA backend with BF16 weights (its KV cache is "
                        + "in the weights' type, or fp8)");
        assertThatThrownBy(() -> Runners.checkCudaKvType(kv("float32"), DType.F16)).hasMessageContaining("dtype F32");
    }

    @Test
    void theCpuRefusesFp8NamingTheBackendThatTakesIt() {
        assertThatCode(() -> Runners.checkCpuKvType(kv("bf16"))).doesNotThrowAnyException();
        assertThatCode(() -> Runners.checkCpuKvType(kv("auto"))).doesNotThrowAnyException();
        assertThatThrownBy(() -> Runners.checkCpuKvType(kv("e4m3")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("kv_cache_config.dtype fp8 needs the cuda backend (sm_89 or newer); the cpu backend's KV cache is "
                        + "float32, float16 or bfloat16");
    }
}
