package io.trtllm;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;
import io.trtllm.testing.Architecture;

/**
 * trtllm-core's packages keep their layering (see {@link Architecture}): checked on the production
 * classes; tests may reach across layers to set things up.
 */
@AnalyzeClasses(packages = "io.trtllm", importOptions = ImportOption.DoNotIncludeTests.class)
class ArchitectureTests {

    @ArchTest
    static final ArchRule dependenciesPointDown = Architecture.LAYERS;

    @ArchTest
    static final ArchRule noPackageCycles = Architecture.NO_CYCLES;

    @ArchTest
    static final ArchRule theApiNamesNoBackend = Architecture.API_WITHOUT_BACKENDS;

    @ArchTest
    static final ArchRule configImportsNothingOfOurs = Architecture.CONFIG_SELF_CONTAINED;
}
