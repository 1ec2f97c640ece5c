package io.trtllm.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import io.trtllm.model.ModelFormatException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import jinjava.javax.el.CompositeELResolver;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Hugging Face chat template (the Jinja2 source in {@code tokenizer_config.json}'s
 * {@code chat_template}) rendered with Jinjava the way transformers' {@code apply_chat_template}
 * renders it with Python Jinja2: {@code trim_blocks} and {@code lstrip_blocks} on, no trailing
 * newline, the variables {@code messages} (maps with {@code role} and {@code content}; where set,
 * {@code tool_calls}, {@code tool_call_id} and {@code name} as OpenAI's chat API and transformers have them),
 * {@code add_generation_prompt} and the special tokens ({@code bos_token}, {@code eos_token}, ...),
 * and the globals {@code raise_exception} and {@code strftime_now}.
 *
 * <p>Jinjava is not Jinja2. Where real templates (Llama 3/3.1/3.2, Qwen 2.5/3, Mistral, Gemma 3,
 * DeepSeek, Command R, SmolLM3, ...) meet a difference, it is bridged, in three places:
 * <ul>
 *   <li>{@link JinjaPreprocessor} rewrites the source once: Jinja2's {@code trim_blocks} and
 *       {@code lstrip_blocks} and final-newline rules, slices ({@code messages[::-1]},
 *       {@code xs[:i+1]}), keyword arguments with expressions ({@code namespace(n=xs|length - 1)}),
 *       loop filters ({@code for x in xs if c}), {@code x.0}, {@code ({...})}, {@code n+1};</li>
 *   <li>{@link PythonStrings}, a resolver ahead of Jinjava's own, gives strings Python's methods
 *       ({@code .strip('\n')}, {@code .startswith}, {@code .split(sep)[-1]}, ...) and negative
 *       indices, and resolves the rewritten slices;</li>
 *   <li>{@link JinjaExtensions} adds transformers' globals and Python's {@code tojson}, {@code trim},
 *       {@code string}, {@code items}, {@code indent} and {@code {% generation %}}; values print as
 *       Python's {@code str()} ({@code True}, {@code None} in lists, {@code {'a': 1}}).</li>
 * </ul>
 * Known differences that remain: None prints as an empty string (Jinjava cannot tell it from an
 * undefined value; Jinja2 prints {@code None}), {@code a and b} / {@code a or b} yield booleans rather
 * than an operand, {@code loop.previtem}/{@code loop.nextitem} are undefined, one-element tuples
 * {@code (x,)} do not parse, {@code 'ab' * 3} fails, and {@code str.format} takes positional fields
 * only. Checked against the 53 templates of Hugging Face's own Jinja test suite (huggingface.js,
 * {@code packages/jinja/test/e2e.test.js}): 51 render the expected text; one reads
 * {@code loop.previtem}, and one prints {@code tools|string}, where this class prints Python's
 * {@code str()} of the list and the suite expects JSON.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class ChatTemplate {
    private static final Logger log = LoggerFactory.getLogger(ChatTemplate.class);

    private static final Pattern TOOLS_VARIABLE = Pattern.compile("\\btools\\b");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String source;
    private final String origin;
    private final String jinjavaSource;

    /**
     * @param source the template's Jinja2 source
     * @param origin where it came from (a file path), named in every error message
     */
    public ChatTemplate(String source, String origin) {
        this.source = source;
        this.origin = origin;
        this.jinjavaSource = JinjaPreprocessor.rewrite(source);
    }

    /** The template as written (before the rewrites for Jinjava). */
    public String source() {
        return source;
    }

    /** Where the template came from. */
    public String origin() {
        return origin;
    }

    /**
     * Renders {@code messages}.
     *
     * @param variables further template variables: the special tokens ({@code bos_token}, ...) and
     *                  what a template may read ({@code tools}, {@code enable_thinking}, {@code date_string}, ...);
     *                  {@code messages} and {@code add_generation_prompt} come from the other arguments
     * @throws ChatTemplateException when the template rejects the messages ({@code raise_exception})
     * @throws ModelFormatException  when the template cannot be parsed or fails to render
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
        Map<String, Object> context = new HashMap<>(variables);
        List<Map<String, Object>> maps = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            maps.add(toMap(m));
        }
        context.put("messages", maps);
        context.put("add_generation_prompt", addGenerationPrompt);
        return renderContext(context);
    }

    /**
     * Whether the template reads a {@code tools} variable: then it renders tool definitions (passed
     * as {@code tools}), and by the same convention assistant {@code tool_calls} and {@code tool} messages.
     */
    public boolean supportsTools() {
        return TOOLS_VARIABLE.matcher(source).find();
    }

    /** A message as transformers hands it to templates; tool fields only where set. */
    private static Map<String, Object> toMap(ChatMessage m) {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("role", m.role());
        map.put("content", m.content());
        if (!m.toolCalls().isEmpty()) {
            List<Map<String, Object>> calls = new ArrayList<>(m.toolCalls().size());
            for (ChatMessage.ToolCall call : m.toolCalls()) {
                Map<String, Object> function = new LinkedHashMap<>();
                function.put("name", call.name());
                function.put("arguments", argumentsValue(call.arguments()));
                Map<String, Object> c = new LinkedHashMap<>();
                if (call.id() != null) {
                    c.put("id", call.id());
                }
                c.put("type", "function");
                c.put("function", function);
                calls.add(c);
            }
            map.put("tool_calls", calls);
        }
        if (m.toolCallId() != null) {
            map.put("tool_call_id", m.toolCallId());
        }
        if (m.name() != null) {
            map.put("name", m.name());
        }
        return map;
    }

    /** A JSON object's text as a mapping (what templates expect), anything else as the text. */
    private static Object argumentsValue(String arguments) {
        try {
            Object value = JSON.readValue(arguments, Object.class);
            return value instanceof Map<?, ?> ? value : arguments;
        } catch (JsonProcessingException e) {
            return arguments;
        }
    }

    /** Renders with exactly {@code context} as the template's variables (messages may be any maps). */
    String renderContext(Map<String, ?> context) {
        RenderResult result;
        try {
            result = Engine.JINJAVA.renderForResult(jinjavaSource, context);
        } catch (RuntimeException e) {
            throw new ModelFormatException(origin + ": the chat template failed to render: " + e.getMessage(), e);
        }
        TemplateError firstFatal = null;
        for (TemplateError error : result.getErrors()) {
            String raised = raisedMessage(error.getException());
            if (raised != null) {
                throw new ChatTemplateException(origin + ": the chat template rejected the conversation: " + raised);
            }
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                firstFatal = firstFatal == null ? error : firstFatal;
            } else {
                // Jinja2 renders an undefined attribute as empty too; Jinjava records it as a warning.
                log.trace("{}: {}", origin, error);
            }
        }
        if (firstFatal != null) {
            throw new ModelFormatException(origin + ": the chat template failed to render at line "
                    + firstFatal.getLineno() + ": " + firstFatal.getMessage());
        }
        return result.getOutput();
    }

    private static @Nullable String raisedMessage(@Nullable Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof JinjaExtensions.TemplateRaisedException raised) {
                return raised.getMessage();
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return "ChatTemplate[" + origin + "]";
    }

    /** One Jinjava for all templates: it holds only configuration and stateless extensions. */
    private static final class Engine {
        static final Jinjava JINJAVA = create();

        private static Jinjava create() {
            CompositeELResolver resolver = new CompositeELResolver();
            resolver.add(new PythonStrings());
            resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
            JinjavaConfig config = JinjavaConfig.newBuilder()
                    // trim_blocks and lstrip_blocks are applied by JinjaPreprocessor, as Jinja2's lexer does.
                    .withTrimBlocks(false)
                    .withLstripBlocks(false)
                    .withElResolver(resolver)
                    .withInterperterFactory(new PythonInterpreterFactory())
                    .withLegacyOverrides(LegacyOverrides.newBuilder()
                            // {{- x }} and {#- c #} honour '-' (Jinjava otherwise only does for {%- %}).
                            .withUseTrimmingForNotesAndExpressions(true)
                            // '-' is a modifier only right after the delimiter: {{ -1 }} is minus one.
                            .withParseWhitespaceControlStrictly(true)
                            // for k in mapping iterates keys; {key: v} evaluates key as an expression.
                            .withIterateOverMapKeys(true)
                            .withEvaluateMapKeys(true)
                            .withKeepNullableLoopValues(true)
                            .build())
                    .build();
            Jinjava jinjava = new Jinjava(config);
            Context globals = jinjava.getGlobalContext();
            JinjaExtensions.functions().forEach(globals::registerFunction);
            globals.registerFilter(new JinjaExtensions.ToJsonFilter());
            globals.registerFilter(new JinjaExtensions.TrimFilter());
            globals.registerFilter(new JinjaExtensions.StringFilter());
            globals.registerFilter(new JinjaExtensions.ItemsFilter());
            globals.registerFilter(new JinjaExtensions.IndentFilter());
            globals.registerTag(new JinjaExtensions.GenerationTag());
            return jinjava;
        }
    }

    /**
     * Prints {@code {{ value }}} as Python's {@code str(value)} ({@code True}, {@code 1.0}, {@code ['a']})
     * instead of Java's {@code toString}. Null prints as nothing: Jinjava cannot tell an undefined
     * variable (empty in Jinja2) from None.
     */
    private static final class PythonInterpreter extends JinjavaInterpreter {
        PythonInterpreter(Jinjava application, Context context, JinjavaConfig config) {
            super(application, context, config);
        }

        PythonInterpreter(JinjavaInterpreter orig) {
            super(orig);
        }

        @Override
        public String getAsString(@Nullable Object object) {
            return object == null ? "" : PythonJson.str(object);
        }
    }

    private static final class PythonInterpreterFactory implements InterpreterFactory {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter orig) {
            return new PythonInterpreter(orig);
        }

        @Override
        public JinjavaInterpreter newInstance(Jinjava application, Context context, JinjavaConfig config) {
            return new PythonInterpreter(application, context, config);
        }
    }
}
