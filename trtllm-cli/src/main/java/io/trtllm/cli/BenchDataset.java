package io.trtllm.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.Tokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.IntPredicate;

/**
 * The requests of a throughput benchmark: read from a JSON Lines file in the format of TensorRT-LLM's
 * {@code trtllm-bench} ({@code task_id}, {@code prompt} or {@code input_ids}, {@code output_tokens}), or
 * synthetic (random token ids of a fixed length).
 */
final class BenchDataset {
    /** One benchmark request: its prompt as token ids and the exact number of tokens to generate. */
    record Entry(String taskId, int[] inputIds, int outputTokens) {
    }

    private BenchDataset() {
    }

    /**
     * Reads a JSON Lines dataset; every line is an object with {@code task_id}, {@code output_tokens}
     * (≥ 1) and either {@code prompt} (text, tokenized here) or {@code input_ids} (token ids below
     * {@code vocabSize}). Blank lines are skipped; any other problem names the file and line.
     */
    static List<Entry> read(Path file, Tokenizer tokenizer, int vocabSize) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("dataset '" + file + "' is not a readable file");
        }
        var mapper = new ObjectMapper();
        var entries = new ArrayList<Entry>();
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = in.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                String where = "dataset '" + file + "' line " + lineNo;
                JsonNode node;
                try {
                    node = mapper.readTree(line);
                } catch (JsonProcessingException e) {
                    throw new IllegalArgumentException(where + " is not valid JSON: " + e.getOriginalMessage(), e);
                }
                entries.add(entry(node, where, tokenizer, vocabSize));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read dataset '" + file + "'", e);
        }
        if (entries.isEmpty()) {
            throw new IllegalArgumentException("dataset '" + file + "' has no requests");
        }
        return entries;
    }

    private static Entry entry(JsonNode node, String where, Tokenizer tokenizer, int vocabSize) {
        if (!node.isObject()) {
            throw new IllegalArgumentException(where + ": expected a JSON object, got " + node.getNodeType());
        }
        JsonNode id = node.get("task_id");
        if (id == null || !(id.isIntegralNumber() || id.isTextual())) {
            throw new IllegalArgumentException(where + ": 'task_id' (number or string) is missing");
        }
        JsonNode out = node.get("output_tokens");
        if (out == null || !out.canConvertToInt() || !out.isIntegralNumber() || out.intValue() < 1) {
            throw new IllegalArgumentException(where + ": 'output_tokens' must be an integer >= 1, got " + out);
        }
        JsonNode prompt = node.get("prompt");
        JsonNode inputIds = node.get("input_ids");
        if ((prompt == null) == (inputIds == null)) {
            throw new IllegalArgumentException(where + ": exactly one of 'prompt' and 'input_ids' is required");
        }
        int[] ids;
        if (prompt != null) {
            if (!prompt.isTextual()) {
                throw new IllegalArgumentException(where + ": 'prompt' must be a string");
            }
            ids = tokenizer.encode(prompt.textValue(), true);
        } else {
            if (!inputIds.isArray() || inputIds.isEmpty()) {
                throw new IllegalArgumentException(where + ": 'input_ids' must be a non-empty array of token ids");
            }
            ids = new int[inputIds.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode t = inputIds.get(i);
                if (!t.isIntegralNumber() || !t.canConvertToInt() || t.intValue() < 0 || t.intValue() >= vocabSize) {
                    throw new IllegalArgumentException(where + ": input_ids[" + i + "] = " + t
                            + " is not a token id in [0, " + vocabSize + ")");
                }
                ids[i] = t.intValue();
            }
        }
        if (ids.length == 0) {
            throw new IllegalArgumentException(where + ": the prompt has no tokens");
        }
        return new Entry(id.asText(), ids, out.intValue());
    }

    /**
     * {@code count} requests of {@code inputLen} random token ids each (seeded, so runs compare), drawn
     * from {@code [0, vocabSize)} without the ids {@code special} accepts, each generating {@code outputLen}.
     */
    static List<Entry> synthetic(int count, int inputLen, int outputLen, int vocabSize, IntPredicate special, long seed) {
        var random = new SplittableRandom(seed);
        var entries = new ArrayList<Entry>(count);
        for (int i = 0; i < count; i++) {
            int[] ids = new int[inputLen];
            for (int j = 0; j < inputLen; j++) {
                int id;
                do {
                    id = random.nextInt(vocabSize);
                } while (special.test(id));
                ids[j] = id;
            }
            entries.add(new Entry(Integer.toString(i), ids, outputLen));
        }
        return entries;
    }
}
