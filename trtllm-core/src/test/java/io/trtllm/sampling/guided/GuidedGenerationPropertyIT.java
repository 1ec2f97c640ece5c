package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;

import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.testing.Gen;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Generations without a model, 200 random walks per schema on each real vocabulary (Llama 3, Qwen3,
 * stories15M): every finished output is UTF-8, is what the tokenizer decodes its tokens to, parses as
 * JSON and validates against its schema (networknt's validator, formats asserted).
 */
class GuidedGenerationPropertyIT {
    private static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    private static final Map<String, Schema> SCHEMAS = new ConcurrentHashMap<>();

    static Stream<Arguments> cases() {
        return Stream.of("llama3", "qwen3", "stories15M").flatMap(vocab -> TestSchemas.TEN.keySet().stream()
                .flatMap(schema -> Gen.seeds("guided generation " + schema + " on " + vocab, 200)
                        .map(seed -> Arguments.of(vocab, schema, seed))));
    }

    @ParameterizedTest(name = "{0} {1} seed {2}")
    @MethodSource("cases")
    void everyOutputValidatesAgainstItsSchema(String vocab, String schemaName, long seed) {
        Gen gen = new Gen(seed);
        Vocabularies.Real real = switch (vocab) {
            case "llama3" -> Vocabularies.llama3();
            case "qwen3" -> Vocabularies.qwen3();
            default -> Vocabularies.stories15M();
        };
        String schemaText = TestSchemas.TEN.get(schemaName);
        CompiledGuide guide = GuidedDecoding.compile(GuidedDecodingParams.json(schemaText), real.vocabulary());
        Walks.Output out = Walks.walk(guide, gen, gen.intBetween(0, 60), 3000);
        assertThat(out.ended()).as("the walk ended").isTrue();
        String text = checkText(real, out);
        Schema schema = SCHEMAS.computeIfAbsent(schemaName, k -> REGISTRY.getSchema(schemaText, InputFormat.JSON));
        var errors = schema.validate(text, InputFormat.JSON, ctx -> ctx.executionConfig(c -> c.formatAssertionsEnabled(true)));
        assertThat(errors).as("%s validates %s", schemaName, text).isEmpty();
    }

    /** The output as text: strict UTF-8, equal to the tokenizer's decoding of the tokens before the end token. */
    static String checkText(Vocabularies.Real real, Walks.Output out) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(out.bytes())).toString();
        } catch (CharacterCodingException e) {
            throw new AssertionError("output is not UTF-8: " + Arrays.toString(out.bytes()), e);
        }
        int[] ids = out.tokens();
        if (ids.length > 0 && real.vocabulary().isEnd(ids[ids.length - 1])) {
            ids = Arrays.copyOf(ids, ids.length - 1);
        }
        assertThat(real.tokenizer().decode(ids, false)).as("the tokenizer's decoding").isEqualTo(text);
        return text;
    }

    static List<String> schemaNames() {
        return List.copyOf(TestSchemas.TEN.keySet());
    }
}
