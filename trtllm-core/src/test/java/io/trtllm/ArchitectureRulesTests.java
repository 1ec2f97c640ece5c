package io.trtllm;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import io.trtllm.engine.EngineBuilder;
import io.trtllm.engine.EngineCache;
import io.trtllm.runtime.cuda.CudaBackend;
import io.trtllm.testing.Architecture;
import io.trtllm.testing.fixture.ApiOnlyFixture;
import io.trtllm.testing.fixture.InternalsImportFixture;
import org.junit.jupiter.api.Test;

/**
 * Each rule of {@link Architecture} fails on a class that breaks it (fixtures in the test sources,
 * which {@link ArchitectureTests} leaves out), naming the class and what it uses: a rule that could
 * never fail would check nothing.
 */
class ArchitectureRulesTests {

    private static JavaClasses load(String className) {
        return load(type(className));
    }

    private static JavaClasses load(Class<?>... classes) {
        return new ClassFileImporter().importClasses(classes);
    }

    /** A fixture class, package-private in the package whose rule it breaks. */
    private static Class<?> type(String name) {
        try {
            return Class.forName(name);
        } catch (ClassNotFoundException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aBackendNamingTheEngineAboveItBreaksTheLayering() {
        // The layers are made of the classes imported: the engine's class must be among them.
        JavaClasses classes = load(type("io.trtllm.runtime.cuda.UpwardImportFixture"), EngineCache.class);
        assertThatThrownBy(() -> Architecture.LAYERS.check(classes))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("<io.trtllm.runtime.cuda.UpwardImportFixture.above()> references class object "
                        + "<io.trtllm.engine.EngineCache>");
    }

    @Test
    void aBackendNamingTheEngineThatBuildsForItMakesACycle() {
        JavaClasses classes = load(type("io.trtllm.runtime.cuda.UpwardImportFixture"), EngineBuilder.class,
                EngineCache.class, CudaBackend.class);
        assertThatThrownBy(() -> Architecture.NO_CYCLES.check(classes))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("Cycle detected: Slice engine")
                .hasMessageContaining("Dependencies of Slice runtime.cuda")
                .hasMessageContaining("<io.trtllm.runtime.cuda.UpwardImportFixture.above()> references class object "
                        + "<io.trtllm.engine.EngineCache>");
    }

    @Test
    void theApiNamingABackendBreaksItsRule() {
        assertThatThrownBy(() -> Architecture.API_WITHOUT_BACKENDS.check(load("io.trtllm.api.BackendImportFixture")))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("<io.trtllm.api.BackendImportFixture.backend()> references class object "
                        + "<io.trtllm.runtime.cpu.CpuModelRunner>");
    }

    @Test
    void configNamingAnotherPackageOfOursBreaksItsRule() {
        assertThatThrownBy(() -> Architecture.CONFIG_SELF_CONTAINED.check(load("io.trtllm.api.config.ConfigImportFixture")))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("<io.trtllm.api.config.ConfigImportFixture.model()> gets field "
                        + "<io.trtllm.model.DType.F32>");
    }

    @Test
    void aSpringSideClassReachingPastTheApiBreaksItsRule() {
        assertThatThrownBy(() -> Architecture.onlyTheApi("io.trtllm.testing.fixture..")
                .check(load(InternalsImportFixture.class)))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("references class object <io.trtllm.executor.Executor>");
    }

    @Test
    void whatTheSpringSideUsesOfTheApiHandsOutNothingFromBelowIt() {
        assertThatCode(() -> Architecture.onlyTheApi("io.trtllm.testing.fixture..").check(load(ApiOnlyFixture.class)))
                .doesNotThrowAnyException();
    }
}
