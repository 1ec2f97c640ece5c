package io.trtllm.sample;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;
import io.trtllm.testing.Architecture;

/**
 * The sample app uses trtllm-core through its API alone ({@code io.trtllm.api}, {@code io.trtllm.api.config}):
 * checked on the production classes ({@link Architecture#onlyTheApi}); tests may use core's inside
 * to build fixtures.
 */
@AnalyzeClasses(packages = "io.trtllm.sample", importOptions = ImportOption.DoNotIncludeTests.class)
class SpringSeesOnlyTheApiTests {

    @ArchTest
    static final ArchRule onlyTheApi = Architecture.onlyTheApi("io.trtllm.sample..", "io.trtllm.spring..");
}
