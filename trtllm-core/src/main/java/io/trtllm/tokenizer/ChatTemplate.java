package io.trtllm.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.el.JinjavaProcessors;
import com.hubspot.jinjava.interpret.CollectionTooBigException;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.OutputTooBigException;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.loader.ResourceLocator;
import io.trtllm.api.config.ChatMessage;
import io.trtllm.model.ModelFormatException;
import java.io.IOException;
import java.nio.charset.Charset;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
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
 * <p><b>Messages are data.</b> The template is the model's code; what a conversation brings is only
 * ever a value: text a message holds is printed as it is, never rendered again (Jinjava's nested
 * interpretation is off, its {@code render} filter is disabled, and {@code striptags}, which in
 * Jinjava renders its value first, is MarkupSafe's), so {@code {{ 6*7 }}} in a message
 * reaches the model as those nine characters, as in transformers. Templates are self-contained:
 * {@code include}, {@code import}, {@code from} and {@code extends} read no file, from the class path
 * or elsewhere (transformers' Jinja2 environment has no loader either); a template that tries fails
 * with a {@link ModelFormatException} naming its origin. Every render is held to {@link Limits} (time,
 * size of the output and of the strings and lists it builds); past one it stops and throws a
 * {@link TemplateLimitException}.
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
    private final Limits limits;
    private final JinjavaConfig config;

    /**
     * How far one render may go. The defaults leave room for any conversation that fits a context
     * window many times over, and stop a template that runs away (a loop over {@code range(1000)}
     * three deep) within the render time, with the memory it holds bounded by the sizes. The time
     * is generous because a render's first runs are interpreted, before the JIT has compiled
     * Jinjava: Qwen3's template takes about 2 s for its first 400,000-character conversation on a
     * busy 2-core machine, and 0.1 s once warm.
     *
     * @param renderTime longest a render may run (wall clock; checked before every template node, so
     *                   a render stops within one node's work after it)
     * @param maxChars   longest output, and longest string a template may build, in characters (Jinjava
     *                   counts its output in UTF-8 bytes)
     * @param maxItems   most items in a list or mapping a template may build or read (the messages too)
     */
    public record Limits(Duration renderTime, int maxChars, int maxItems) {
        /** 5 s, 4 Mi characters (about a million tokens of text), 100,000 items. */
        public static final Limits DEFAULT = new Limits(Duration.ofSeconds(5), 4 << 20, 100_000);

        public Limits {
            if (renderTime.isNegative() || renderTime.isZero()) {
                throw new IllegalArgumentException("renderTime must be > 0, got " + renderTime);
            }
            if (maxChars < 1) {
                throw new IllegalArgumentException("maxChars must be >= 1, got " + maxChars);
            }
            if (maxItems < 1) {
                throw new IllegalArgumentException("maxItems must be >= 1, got " + maxItems);
            }
        }
    }

    /**
     * A template held to {@link Limits#DEFAULT}.
     *
     * @param source the template's Jinja2 source
     * @param origin where it came from (a file path), named in every error message
     */
    public ChatTemplate(String source, String origin) {
        this(source, origin, Limits.DEFAULT);
    }

    /**
     * @param source the template's Jinja2 source
     * @param origin where it came from (a file path), named in every error message
     * @param limits how far one render may go
     */
    public ChatTemplate(String source, String origin, Limits limits) {
        this.source = source;
        this.origin = origin;
        this.jinjavaSource = JinjaPreprocessor.rewrite(source);
        this.limits = limits;
        this.config = Engine.config(limits);
    }

    /** The template as written (before the rewrites for Jinjava). */
    public String source() {
        return source;
    }

    /** Where the template came from. */
    public String origin() {
        return origin;
    }

    /** How far one render may go. */
    public Limits limits() {
        return limits;
    }

    /**
     * Renders {@code messages}.
     *
     * @param variables further template variables: the special tokens ({@code bos_token}, ...) and
     *                  what a template may read ({@code tools}, {@code enable_thinking}, {@code date_string}, ...);
     *                  {@code messages} and {@code add_generation_prompt} come from the other arguments
     * @throws ChatTemplateException   when the template rejects the messages ({@code raise_exception})
     * @throws TemplateLimitException  when the render goes past one of its {@link #limits()}
     * @throws ModelFormatException    when the template cannot be parsed, fails to render, or reads a file
     * @throws CancellationException   when the thread is interrupted while rendering (the flag stays set)
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
        Jinjava jinjava = Engine.JINJAVA; // initialized (classes loaded) before the clock starts
        RenderResult result;
        try (RenderBudget budget = RenderBudget.start(limits)) {
            try {
                result = jinjava.renderForResult(jinjavaSource, context, config);
            } catch (RuntimeException e) {
                stopped(budget);
                throw new ModelFormatException(origin + ": the chat template failed to render: " + brief(e.getMessage()), e);
            }
            // A render that went past a limit was cut short: whatever else it reports follows from that.
            stopped(budget);
        }
        TemplateError firstFatal = null;
        for (TemplateError error : result.getErrors()) {
            TemplateFileRefused refused = cause(error.getException(), TemplateFileRefused.class);
            if (refused != null) {
                throw new ModelFormatException(origin + ": the chat template " + refused.getMessage());
            }
            var raised = cause(error.getException(), JinjaExtensions.TemplateRaisedException.class);
            if (raised != null) {
                throw new ChatTemplateException(origin, "the chat template rejected the conversation: " + raised.getMessage());
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
                    + firstFatal.getLineno() + ": " + brief(firstFatal.getMessage()));
        }
        String output = result.getOutput();
        if (output.length() > limits.maxChars()) {
            throw new TemplateLimitException(origin, "the chat template's output of " + output.length()
                    + " characters is over its limit of " + limits.maxChars());
        }
        return output;
    }

    /**
     * Jinjava's message, cut short: it quotes values (a list it could not coerce, with every long
     * message in it), and a log line should not hold megabytes.
     */
    private static String brief(@Nullable String message) {
        String text = String.valueOf(message);
        return text.length() <= 1000 ? text : text.substring(0, 1000) + "... (" + text.length() + " characters)";
    }

    /** Throws what ended a render that went past a limit or was interrupted; returns if neither. */
    private void stopped(RenderBudget budget) {
        if (budget.exceeded() != null) {
            throw new TemplateLimitException(origin, budget.exceeded());
        }
        if (budget.interrupted()) {
            throw new CancellationException(origin + ": rendering the chat template was interrupted");
        }
    }

    /** The first throwable of type {@code type} in {@code t}'s cause chain, or null. */
    private static <T extends Throwable> @Nullable T cause(@Nullable Throwable t, Class<T> type) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (type.isInstance(c)) {
                return type.cast(c);
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return "ChatTemplate[" + origin + "]";
    }

    /**
     * One Jinjava for all templates: it holds only configuration and stateless extensions. Each
     * template renders with its own {@link JinjavaConfig}, which differs only in the limits.
     */
    private static final class Engine {
        private static final CompositeELResolver RESOLVER = new CompositeELResolver();

        static {
            RESOLVER.add(new PythonStrings());
            RESOLVER.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        }

        private static final InterpreterFactory INTERPRETERS = new PythonInterpreterFactory();

        private static final JinjavaProcessors PROCESSORS = JinjavaProcessors.newBuilder()
                .withNodePreProcessor((node, interpreter) -> RenderBudget.checkpoint())
                .build();

        /**
         * Jinjava's additions that Jinja2 lacks (so no template that works in transformers uses them)
         * and that would let a template escape the limits: {@code render} renders a value as a
         * template (message text as code), {@code regex_replace} runs a regular expression that may
         * backtrack for minutes over message text in one step, out of the limits' reach.
         */
        private static final Map<Context.Library, Set<String>> DISABLED =
                Map.of(Context.Library.FILTER, Set.of("render", "regex_replace"));

        static final Jinjava JINJAVA = create();

        private static Jinjava create() {
            Jinjava jinjava = new Jinjava(config(Limits.DEFAULT));
            jinjava.setResourceLocator(new NoTemplateFiles());
            Context globals = jinjava.getGlobalContext();
            JinjaExtensions.functions().forEach(globals::registerFunction);
            globals.registerFilter(new JinjaExtensions.ToJsonFilter());
            globals.registerFilter(new JinjaExtensions.TrimFilter());
            globals.registerFilter(new JinjaExtensions.StringFilter());
            globals.registerFilter(new JinjaExtensions.ItemsFilter());
            globals.registerFilter(new JinjaExtensions.IndentFilter());
            globals.registerFilter(new JinjaExtensions.StripTagsFilter());
            globals.registerFilter(new JinjaExtensions.CenterFilter());
            globals.registerFilter(new JinjaExtensions.ReplaceFilter());
            globals.registerFilter(new JinjaExtensions.PprintFilter());
            globals.registerFilter(new JinjaExtensions.BatchFilter());
            globals.registerFilter(new JinjaExtensions.FormatFilter());
            globals.registerTag(new JinjaExtensions.GenerationTag());
            for (Filter filter : List.copyOf(globals.getAllFilters())) {
                if (!JinjaExtensions.PrintableInputs.PASS_REFERENCES.contains(filter.getName())) {
                    globals.registerFilter(new JinjaExtensions.PrintableInputs(filter));
                }
            }
            return jinjava;
        }

        static JinjavaConfig config(Limits limits) {
            return JinjavaConfig.newBuilder()
                    // trim_blocks and lstrip_blocks are applied by JinjaPreprocessor, as Jinja2's lexer does.
                    .withTrimBlocks(false)
                    .withLstripBlocks(false)
                    .withElResolver(RESOLVER)
                    .withInterperterFactory(INTERPRETERS)
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
                    // Jinjava renders printed text again when it holds "{{" or "{%" (on by default):
                    // message text would run as template code. Jinja2 prints values as they are.
                    .withNestedInterpretationEnabled(false)
                    .withMaxOutputSize(limits.maxChars())
                    .withMaxStringLength(limits.maxChars())
                    .withMaxListSize(limits.maxItems())
                    .withMaxMapSize(limits.maxItems())
                    .withProcessors(PROCESSORS)
                    .withDisabled(DISABLED)
                    .build();
        }
    }

    /**
     * The resource locator of every template: chat templates are self-contained, so
     * {@code include}, {@code import}, {@code from} and {@code extends} read nothing (Jinjava's
     * default reads the class path: {@code application.yml}, keys, anything packaged).
     */
    private static final class NoTemplateFiles implements ResourceLocator {
        @Override
        public String getString(String fullName, Charset encoding, JinjavaInterpreter interpreter) throws IOException {
            throw new TemplateFileRefused(fullName);
        }
    }

    /** What {@link NoTemplateFiles} throws; {@link #renderContext} finds it among Jinjava's errors. */
    private static final class TemplateFileRefused extends IOException {
        TemplateFileRefused(String name) {
            super("reads the template file '" + name + "' (include, import, from or extends): chat templates must be "
                    + "self-contained, and no file is read for them");
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

        /** Jinjava's own limits only record an error (a loop goes on): the render stops at its next node. */
        @Override
        public void addError(@Nullable TemplateError error) {
            super.addError(error);
            if (error == null) {
                return;
            }
            Limits limits = RenderBudget.limits();
            if (error.getReason() == TemplateError.ErrorReason.OUTPUT_TOO_BIG
                    || cause(error.getException(), OutputTooBigException.class) != null) {
                RenderBudget.jinjavaLimit("the chat template's output or a string it builds would exceed its limit of "
                        + limits.maxChars() + " characters");
            } else if (error.getReason() == TemplateError.ErrorReason.COLLECTION_TOO_BIG
                    || cause(error.getException(), CollectionTooBigException.class) != null) {
                RenderBudget.jinjavaLimit("a list or mapping in the chat template would exceed its limit of "
                        + limits.maxItems() + " items");
            }
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
