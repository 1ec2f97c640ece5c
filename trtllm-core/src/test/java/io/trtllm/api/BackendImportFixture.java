package io.trtllm.api;

import io.trtllm.runtime.cpu.CpuModelRunner;

/** Breaks the API's rule on purpose: the API naming a backend (ArchitectureRulesTests). */
final class BackendImportFixture {
    private BackendImportFixture() {
    }

    static Class<?> backend() {
        return CpuModelRunner.class;
    }
}
