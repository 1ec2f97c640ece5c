package io.trtllm.cli;

import io.trtllm.api.CompletionOutput;
import io.trtllm.api.LLM;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.TokenLogprob;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.jspecify.annotations.Nullable;
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
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
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

        @Option(names = "--min-p", defaultValue = "0", description = "Drop tokens less likely than min-p times the most likely; 0 = off.")
        float minP;

        @Option(names = "--seed", description = "Random seed for sampling.")
        @Nullable Long seed;

        @Option(names = "--min-tokens", defaultValue = "0", description = "Fewest tokens to generate before end-of-sequence may end it.")
        int minTokens;

        @Option(names = "--stop", description = "A string that ends generation (repeatable).")
        List<String> stop = new ArrayList<>();

        @Option(names = "--include-stop-str", description = "Keep the stop string that ended generation in the text.")
        boolean includeStopStr;

        @Option(names = "--stop-token-ids", split = ",", description = "Token ids that end generation (comma-separated).")
        List<Integer> stopTokenIds = new ArrayList<>();

        @Option(names = "--ignore-eos", description = "Keep generating past the end-of-sequence token.")
        boolean ignoreEos;

        @Option(names = "--bad", description = "A string never to generate (repeatable).")
        List<String> bad = new ArrayList<>();

        @Option(names = "--repetition-penalty", defaultValue = "1.0", description = "Penalty on prompt and output tokens; 1 = off.")
        float repetitionPenalty;

        @Option(names = "--presence-penalty", defaultValue = "0", description = "Subtracted from generated tokens' logits; 0 = off.")
        float presencePenalty;

        @Option(names = "--frequency-penalty", defaultValue = "0", description = "Subtracted once per occurrence; 0 = off.")
        float frequencyPenalty;

        @Option(names = "--n", defaultValue = "1", description = "Completions to print (default ${DEFAULT-VALUE}).")
        int n;

        @Option(names = "--best-of", description = "Sequences to generate, the n most likely kept (default n).")
        @Nullable Integer bestOf;

        @Option(names = "--beam-width", description = "Decode with beam search of this width (best_of).")
        @Nullable Integer beamWidth;

        @Option(names = "--length-penalty", defaultValue = "1.0", description = "Beam search length penalty (default ${DEFAULT-VALUE}).")
        float lengthPenalty;

        @Option(names = "--early-stopping", defaultValue = "1", description = "Beam search early stopping, as TensorRT-LLM's: "
                + "1 ends once the beam width's hypotheses finished, 0 Hugging Face's heuristic, above 1 never (default "
                + "${DEFAULT-VALUE}).")
        int earlyStopping;

        @Option(names = "--logprobs", description = "Also print each generated token's log-probability and the top N.")
        @Nullable Integer logprobs;

        @Option(names = "--stream", description = "Print the text as it is generated.")
        boolean stream;

        @Option(names = "--stats", description = "Also print prefill and decode speed.")
        boolean stats;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        SamplingParams samplingParams() {
            if (beamWidth != null && bestOf != null) {
                throw new IllegalArgumentException("--beam-width and --best-of both set the number of sequences; give one");
            }
            return SamplingParams.builder().maxTokens(maxTokens).minTokens(minTokens).temperature(temperature).topK(topK)
                    .topP(topP).minP(minP).seed(seed).stop(stop).includeStopStrInOutput(includeStopStr)
                    .stopTokenIds(stopTokenIds).ignoreEos(ignoreEos).bad(bad).repetitionPenalty(repetitionPenalty)
                    .presencePenalty(presencePenalty).frequencyPenalty(frequencyPenalty).n(n)
                    .bestOf(beamWidth != null ? beamWidth : bestOf).useBeamSearch(beamWidth != null)
                    .lengthPenalty(lengthPenalty).earlyStopping(earlyStopping).logprobs(logprobs).build();
        }

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            var params = samplingParams();
            if (stream && params.bestOf() > 1) {
                throw new IllegalArgumentException("--stream prints one completion as it grows; it cannot be combined with "
                        + "--n, --best-of or --beam-width above 1");
            }
            // One request (of best_of sequences): a KV cache for those is enough.
            var args = engine.builder().maxBatchSize(params.bestOf()).maxBeamWidth(params.beamWidth()).build();
            if (params.bestOf() > args.maxQueueSize()) { // LLM refuses it too, but only after loading the model
                String option = beamWidth != null ? "--beam-width" : bestOf != null ? "--best-of" : "--n";
                throw new IllegalArgumentException(option + " " + params.bestOf() + " exceeds the request queue (max_queue_size "
                        + args.maxQueueSize() + ")");
            }
            try (var llm = new LLM(args)) {
                RequestOutput result = stream ? streamed(llm, params, out) : llm.generate(prompt, params);
                if (!stream) {
                    for (CompletionOutput c : result.outputs()) {
                        if (result.outputs().size() > 1) {
                            out.printf(Locale.ROOT, "[%d] ", c.index());
                        }
                        out.println(c.text());
                    }
                } else {
                    out.println();
                }
                if (logprobs != null) {
                    printLogprobs(out, llm, result);
                }
                if (stats) {
                    var m = result.metrics();
                    out.printf(Locale.ROOT, "prefill: %.1f tok/s (%d tokens)%n", m.prefillTokensPerSecond(), m.promptTokens());
                    out.printf(Locale.ROOT, "decode: %.1f tok/s (%d tokens)%n", m.decodeTokensPerSecond(), m.generatedTokens());
                    String gaps = TokenGaps.describe(m.interTokenNanos());
                    if (gaps != null) {
                        out.println(gaps);
                    }
                    EngineOptions.printLoad(out, llm);
                    EngineOptions.printMemory(out);
                }
            }
            return 0;
        }

        /** Streams the completion: each piece of text is printed as soon as it is complete. */
        private RequestOutput streamed(LLM llm, SamplingParams params, PrintWriter out) {
            var last = new java.util.concurrent.atomic.AtomicReference<@Nullable RequestOutput>();
            var done = new java.util.concurrent.CompletableFuture<RequestOutput>();
            llm.generateStream(prompt, params).subscribe(new java.util.concurrent.Flow.Subscriber<>() {
                @Override
                public void onSubscribe(java.util.concurrent.Flow.Subscription subscription) {
                    subscription.request(Long.MAX_VALUE);
                }

                @Override
                public void onNext(RequestOutput item) {
                    out.print(item.output().textDiff());
                    out.flush();
                    last.set(item);
                }

                @Override
                public void onError(Throwable throwable) {
                    done.completeExceptionally(throwable);
                }

                @Override
                public void onComplete() {
                    RequestOutput r = last.get();
                    if (r == null) {
                        done.completeExceptionally(new IllegalStateException("the stream ended without output"));
                    } else {
                        done.complete(r);
                    }
                }
            });
            try {
                return done.join();
            } catch (java.util.concurrent.CompletionException e) {
                throw e.getCause() instanceof RuntimeException re ? re : e;
            }
        }

        private static void printLogprobs(PrintWriter out, LLM llm, RequestOutput result) {
            var tokenizer = llm.tokenizer();
            for (CompletionOutput c : result.outputs()) {
                var lps = c.logprobs();
                if (lps.isEmpty()) {
                    continue;
                }
                out.printf(Locale.ROOT, "logprobs [%d]:%n", c.index());
                for (TokenLogprob lp : lps) {
                    var line = new StringBuilder(String.format(Locale.ROOT, "%8d %-16s %9.4f",
                            lp.tokenId(), quoted(tokenizer.decode(new int[] {lp.tokenId()}, false)), lp.logprob()));
                    for (int i = 0; i < lp.topTokenIds().length; i++) {
                        line.append(String.format(Locale.ROOT, "  %s %.4f",
                                quoted(tokenizer.decode(new int[] {lp.topTokenIds()[i]}, false)), lp.topLogprobs()[i]));
                    }
                    out.println(line);
                }
            }
        }

        private static String quoted(String s) {
            return '"' + s.replace("\\", "\\\\").replace("\n", "\\n").replace("\"", "\\\"") + '"';
        }
    }
}
