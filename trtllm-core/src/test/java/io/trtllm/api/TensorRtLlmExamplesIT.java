package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * TensorRT-LLM's documented LLM API examples (basic, batch, async, streaming, beam search, greedy,
 * logits) in Java. The README quotes the code between each {@code tag::} and {@code end::} marker, so
 * every snippet there is compiled and run here; the assertions after a snippet check what it printed.
 */
class TensorRtLlmExamplesIT {
    static LLM llm;
    static final List<String> printed = new ArrayList<>();

    @BeforeAll
    static void load() {
        // tag::construct[]
        llm = LLM.builder("stories15M").maxBeamWidth(4).load();    // LLM(model=..., max_beam_width=4)
        // end::construct[]
    }

    @AfterAll
    static void close() {
        llm.close();
    }

    /** The README's API section quotes each snippet above as it is here (indentation removed). */
    @Test
    void theReadmeQuotesEverySnippetUnchanged() throws java.io.IOException {
        String source = java.nio.file.Files.readString(java.nio.file.Path.of("src/test/java/io/trtllm/api/TensorRtLlmExamplesIT.java"));
        String readme = java.nio.file.Files.readString(java.nio.file.Path.of("../README.md"));
        var tags = java.util.regex.Pattern.compile("// tag::(\\w+)\\[]\\n(.*?)\\n\\s*// end::\\1\\[]", java.util.regex.Pattern.DOTALL)
                .matcher(source);
        int count = 0;
        while (tags.find()) {
            String snippet = tags.group(2).stripIndent();
            assertThat(readme).as("README quotes snippet " + tags.group(1)).contains("```java\n" + snippet + "\n```");
            count++;
        }
        assertThat(count).isEqualTo(8);
    }

    static void println(String line) {
        printed.add(line);
    }

    @Test
    void basic() {
        printed.clear();
        // tag::basic[]
        List<String> prompts = List.of("Once upon a time", "The little dog");
        SamplingParams params = SamplingParams.builder().temperature(0.8f).topP(0.95f).build();
        for (RequestOutput output : llm.generate(prompts, params)) {
            println("Prompt: " + output.prompt() + ", Generated text: " + output.output().text());
        }
        // end::basic[]
        assertThat(printed).hasSize(2).allMatch(l -> l.contains("Generated text: ") && l.length() > 40);
    }

    @Test
    void batchWithDefaultsAndPerPromptParams() {
        // tag::batch[]
        List<RequestOutput> outputs = llm.generate(List.of("Once upon a time", "One day"));   // SamplingParams() defaults
        List<RequestOutput> mixed = llm.generate(List.of("Once upon a time", "One day"),
                List.of(SamplingParams.greedy(8), SamplingParams.greedy(16)));                // one per prompt
        // end::batch[]
        assertThat(outputs).hasSize(2);
        assertThat(mixed.get(0).output().tokenIds()).hasSize(8);
    }

    @Test
    void async() {
        // tag::async[]
        CompletableFuture<RequestOutput> future = llm.generateAsync("Once upon a time", SamplingParams.greedy(32));
        RequestOutput output = future.join();                                                 // await
        CompletableFuture<List<RequestOutput>> all = llm.generateAsync(List.of("A", "B"), SamplingParams.greedy(8));
        // end::async[]
        assertThat(output.output().text()).startsWith(", there was a little girl");
        assertThat(all.join()).hasSize(2);
    }

    @Test
    void streaming() {
        StringBuilder text = new StringBuilder();
        // tag::streaming[]
        for (RequestOutput output : llm.generateStream("Once upon a time", SamplingParams.greedy(32))) {
            text.append(output.output().textDiff());                                          // print(output)
        }
        // end::streaming[]
        assertThat(text.toString()).isEqualTo(llm.generate("Once upon a time", SamplingParams.greedy(32)).output().text());
    }

    @Test
    void beamSearch() {
        // tag::beam[]
        SamplingParams beams = SamplingParams.builder().maxTokens(16).useBeamSearch(true).bestOf(4).n(2).build();
        RequestOutput output = llm.generate("Once upon a time", beams);
        for (CompletionOutput beam : output.outputs()) {
            println(beam.index() + ": " + beam.text() + " (" + beam.cumulativeLogprob() + ")");
        }
        // end::beam[]
        assertThat(output.outputs()).hasSize(2);
    }

    @Test
    void greedy() {
        // tag::greedy[]
        RequestOutput output = llm.generate("Once upon a time", SamplingParams.builder().temperature(0).maxTokens(32).build());
        RequestOutput same = llm.generate("Once upon a time");       // SamplingParams(): greedy, max_tokens 32
        // end::greedy[]
        assertThat(same.output().text()).isEqualTo(output.output().text());
    }

    @Test
    void logits() {
        // tag::logits[]
        SamplingParams params = SamplingParams.greedy(8).with(b -> b.returnContextLogits(true).returnGenerationLogits(true)
                .logprobs(2));
        RequestOutput output = llm.generate("Once upon a time", params);
        Logits context = output.contextLogits();                     // [prompt tokens × vocab]
        Logits generation = output.output().generationLogits();     // [generated tokens × vocab]
        List<TokenLogprob> logprobs = output.output().logprobs();      // chosen + top-2 per token
        // end::logits[]
        assertThat(context.rows()).isEqualTo(output.promptTokenIds().length);
        assertThat(generation.rows()).isEqualTo(8);
        assertThat(logprobs).hasSize(8);
    }
}
