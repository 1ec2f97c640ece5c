package io.trtllm.testing;

import static com.tngtech.archunit.base.DescribedPredicate.or;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideOutsideOfPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.lang.ArchRule;
import java.util.Arrays;
import java.util.stream.Stream;

/**
 * The package rules of trtllm, as ArchUnit rules (docs/ARCHITECTURE.md draws them). trtllm-core's
 * {@code ArchitectureTests} checks its classes against {@link #LAYERS}, {@link #NO_CYCLES},
 * {@link #API_WITHOUT_BACKENDS} and {@link #CONFIG_SELF_CONTAINED}; trtllm-cli checks
 * {@link #NOTHING_USES_THE_CLI}; each Spring-side module checks its own classes against
 * {@link #onlyTheApi}. {@code ArchitectureRulesTests} (and trtllm-cli's {@code CliArchitectureRulesTests})
 * show that each rule fails on a class that breaks it.
 */
public final class Architecture {

    /**
     * Dependencies point down, top to bottom: {@code api} → {{@code api.chat} (reply text: tool
     * calls, reasoning), {@code engine}, {@code executor}}
     * → {{@code runtime.cpu}, {@code runtime.cuda}} → {@code runtime} (the runner SPI) → {@code sampling} →
     * {{@code tokenizer}, {@code model.source} → {{@code model.builtin}, {@code model.hub}}} → {@code model} →
     * {@code api.config}. Packages of one tier do not use each other (the executor never names a
     * backend; the CPU and CUDA backends share nothing but the SPI and the model). Above {@code api}: the
     * command line ({@code io.trtllm.cli}, module trtllm-cli, see {@link #NOTHING_USES_THE_CLI}) and the
     * Spring modules ({@link #onlyTheApi}).
     */
    public static final ArchRule LAYERS = layeredArchitecture().consideringOnlyDependenciesInLayers()
            .layer("api").definedBy("io.trtllm.api")
            .layer("api.chat").definedBy("io.trtllm.api.chat..")
            .layer("engine").definedBy("io.trtllm.engine..")
            .layer("executor").definedBy("io.trtllm.executor..")
            .layer("runtime.cpu").definedBy("io.trtllm.runtime.cpu..")
            .layer("runtime.cuda").definedBy("io.trtllm.runtime.cuda..")
            .layer("runtime").definedBy("io.trtllm.runtime")
            .optionalLayer("sampling").definedBy("io.trtllm.sampling..")
            .layer("tokenizer").definedBy("io.trtllm.tokenizer..")
            .layer("model.source").definedBy("io.trtllm.model.source..")
            .layer("model.builtin").definedBy("io.trtllm.model.builtin..")
            .layer("model.hub").definedBy("io.trtllm.model.hub..")
            .layer("model").definedBy("io.trtllm.model")
            .layer("api.config").definedBy("io.trtllm.api.config..")

            .whereLayer("api").mayNotBeAccessedByAnyLayer()
            .whereLayer("api.chat").mayOnlyBeAccessedByLayers("api")
            .whereLayer("engine").mayOnlyBeAccessedByLayers("api")
            .whereLayer("executor").mayOnlyBeAccessedByLayers("api")
            .whereLayer("runtime.cpu").mayOnlyBeAccessedByLayers("engine")
            .whereLayer("runtime.cuda").mayOnlyBeAccessedByLayers("engine")
            .whereLayer("runtime").mayOnlyBeAccessedByLayers("api", "engine", "executor", "runtime.cpu",
                    "runtime.cuda")
            .whereLayer("sampling").mayOnlyBeAccessedByLayers("api", "engine", "executor", "runtime.cpu",
                    "runtime.cuda", "runtime")
            .whereLayer("tokenizer").mayOnlyBeAccessedByLayers("api", "engine", "executor", "runtime.cpu",
                    "runtime.cuda", "runtime", "sampling")
            .whereLayer("model.source").mayOnlyBeAccessedByLayers("api", "engine", "executor", "runtime.cpu",
                    "runtime.cuda", "runtime", "sampling")
            .whereLayer("model.builtin").mayOnlyBeAccessedByLayers("api", "engine", "executor", "runtime.cpu",
                    "runtime.cuda", "runtime", "sampling", "model.source")
            .whereLayer("model.hub").mayOnlyBeAccessedByLayers("api", "engine", "executor", "runtime.cpu",
                    "runtime.cuda", "runtime", "sampling", "model.source")
            .whereLayer("model").mayOnlyBeAccessedByLayers("api", "engine", "executor", "runtime.cpu",
                    "runtime.cuda", "runtime", "sampling", "tokenizer", "model.source", "model.builtin", "model.hub")
            .whereLayer("api.config").mayOnlyBeAccessedByLayers("api", "engine", "executor", "runtime.cpu",
                    "runtime.cuda", "runtime", "sampling", "tokenizer", "model.source", "model.builtin", "model.hub",
                    "model")
            .because("a package may use only those below it (docs/ARCHITECTURE.md)");

    /**
     * The command line is a product on top of trtllm-core (module trtllm-cli, with picocli and a logging
     * backend): no class outside {@code io.trtllm.cli} uses it. trtllm-cli's {@code CliArchitectureTests}
     * checks it over every class of ours on that module's class path.
     */
    public static final ArchRule NOTHING_USES_THE_CLI = noClasses().that().resideOutsideOfPackage("io.trtllm.cli..")
            .should().dependOnClassesThat().resideInAPackage("io.trtllm.cli..")
            .because("the engine, its API and the Spring modules do not know the command line; it ships apart "
                    + "(trtllm-cli), so that a server's class path carries no picocli (docs/ARCHITECTURE.md)");

    /** No two packages use each other, directly or around a loop. */
    public static final ArchRule NO_CYCLES = slices().matching("io.trtllm.(**)").should().beFreeOfCycles();

    /** The API drives the engine through the runner SPI: it never names a backend. */
    public static final ArchRule API_WITHOUT_BACKENDS = noClasses().that().resideInAPackage("io.trtllm.api..")
            .should().dependOnClassesThat().resideInAnyPackage("io.trtllm.runtime.cpu..", "io.trtllm.runtime.cuda..")
            .because("io.trtllm.engine assembles runners (Runners.open); the API only starts an executor over one");

    /** The bottom package: every other package may use it because it uses none of ours. */
    public static final ArchRule CONFIG_SELF_CONTAINED = classes().that().resideInAPackage("io.trtllm.api.config..")
            .should().onlyDependOnClassesThat(or(resideOutsideOfPackage("io.trtllm.."),
                    resideInAnyPackage("io.trtllm.api.config..")))
            .because("api.config is the bottom of the layering: values shared by callers and the engine");

    private Architecture() {
    }

    /**
     * Classes in {@code ownPackages} (a module on top of trtllm-core: the Spring modules, the sample app)
     * use trtllm-core only through {@code io.trtllm.api} and {@code io.trtllm.api.config}; everything else
     * of core ({@code engine}, {@code executor}, {@code model}, {@code runtime}, {@code sampling},
     * {@code tokenizer}) is its inside and may change without notice; the command line ({@code io.trtllm.cli},
     * another module) is not theirs to use at all.
     *
     * @param ownPackages the module's packages (ArchUnit syntax, e.g. {@code io.trtllm.spring..}) and those of
     *                    the modules it builds on
     */
    public static ArchRule onlyTheApi(String... ownPackages) {
        String[] allowed = Stream.concat(Stream.of("io.trtllm.api.."), Arrays.stream(ownPackages)).toArray(String[]::new);
        return classes().that().resideInAnyPackage(ownPackages)
                .should().onlyDependOnClassesThat(or(resideOutsideOfPackage("io.trtllm.."), resideInAnyPackage(allowed)))
                .because("Spring sees only the API: engine, executor, model, runtime and tokenizer are trtllm-core's "
                        + "inside (docs/ARCHITECTURE.md)");
    }
}
