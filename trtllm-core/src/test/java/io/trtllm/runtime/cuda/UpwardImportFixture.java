package io.trtllm.runtime.cuda;

import io.trtllm.engine.EngineCache;

/** Breaks the layering on purpose: a backend naming the engine above it (ArchitectureRulesTests). */
final class UpwardImportFixture {
    private UpwardImportFixture() {
    }

    static Class<?> above() {
        return EngineCache.class;
    }
}
