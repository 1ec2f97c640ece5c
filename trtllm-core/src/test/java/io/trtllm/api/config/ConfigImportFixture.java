package io.trtllm.api.config;

import io.trtllm.model.DType;

/** Breaks api.config's rule on purpose: the bottom package naming the model package (ArchitectureRulesTests). */
final class ConfigImportFixture {
    private ConfigImportFixture() {
    }

    static Object model() {
        return DType.F32;
    }
}
