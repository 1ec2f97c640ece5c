package io.trtllm.cli;

import io.trtllm.api.LLM;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code trtllm} command line. Results go to standard output; logs (SLF4J) to standard error.
 */
@Command(name = "trtllm", mixinStandardHelpOptions = true, version = "trtllm-java 0.1.0",
        description = "In-process LLM inference for the JVM.",
        subcommands = {Main.Generate.class, Bench.class, Build.class, CacheCommand.class})
public final class Main implements Runnable {

    @Override
    public void run() {
        new CommandLine(this).usage(System.err);
    }

    public static void main(String[] args) {
        System.exit(execute(args, new PrintWriter(System.out, true, StandardCharsets.UTF_8),
                new PrintWriter(System.err, true, StandardCharsets.UTF_8)));
    }

    /** Runs the command line with the given streams; returns the exit code. */
    public static int execute(String[] args, PrintWriter out, PrintWriter err) {
        var cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            // Bad input (model path, arguments) is the user's to fix: one clear line, no stack trace.
            err.println("error: " + (ex.getMessage() != null ? ex.getMessage() : ex.toString()));
            return ex instanceof IllegalArgumentException || ex instanceof io.trtllm.model.ModelFormatException ? 2 : 1;
        });
        return cli.execute(args);
    }

    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = "Complete a prompt and print the completion.")
    static final class Generate implements Callable<Integer> {
        @CommandLine.Mixin
        EngineOptions engine;

        @Option(names = "--prompt", required = true, description = "The prompt text.")
        String prompt;

        @Option(names = "--max-tokens", defaultValue = "64", description = "Most tokens to generate (default ${DEFAULT-VALUE}).")
        int maxTokens;

        @Option(names = "--temperature", defaultValue = "1.0", description = "0 for greedy decoding (default ${DEFAULT-VALUE}).")
        float temperature;

        @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens; 0 = all.")
        int topK;

        @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling threshold in (0, 1].")
        float topP;

        @Option(names = "--seed", description = "Random seed for sampling.")
        Long seed;

        @Option(names = "--ignore-eos", description = "Keep generating past the end-of-sequence token.")
        boolean ignoreEos;

        @Option(names = "--stats", description = "Also print prefill and decode speed.")
        boolean stats;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            // One request: a KV cache for one sequence is enough.
            var args = engine.builder().maxBatchSize(1).build();
            var params = SamplingParams.builder().maxTokens(maxTokens).temperature(temperature).topK(topK).topP(topP)
                    .seed(seed).ignoreEos(ignoreEos).build();
            try (var llm = new LLM(args)) {
                RequestOutput result = llm.generate(prompt, params, piece -> {
                    out.print(piece);
                    out.flush();
                });
                out.println();
                if (stats) {
                    var m = result.metrics();
                    out.printf(Locale.ROOT, "prefill: %.1f tok/s (%d tokens)%n", m.prefillTokensPerSecond(), m.promptTokens());
                    out.printf(Locale.ROOT, "decode: %.1f tok/s (%d tokens)%n", m.decodeTokensPerSecond(), m.generatedTokens());
                    EngineOptions.printMemory(out);
                }
            }
            return 0;
        }
    }
}
