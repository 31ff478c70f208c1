package dev.tina.training.grpo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.checkpoint.CheckpointFormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Training prompts from JSONL, or a Hugging Face {@code datasets} Arrow file, with a field mapping; rows without a problem or an answer are
 * skipped and counted, not fatal. The order is a seeded shuffle per epoch, so a position in the
 * stream (the data cursor) names the same prompt on every run.
 */
public final class PromptDataset {
    public record Row(String id, String problem, String answer) {}

    private final List<Row> rows;
    private final int skipped;
    private final long seed;

    private PromptDataset(List<Row> rows, int skipped, long seed) {
        this.rows = rows;
        this.skipped = skipped;
        this.seed = seed;
    }

    public static PromptDataset read(Path file, String problemField, String answerField, long seed) throws IOException {
        if (!Files.isRegularFile(file)) throw new CheckpointFormatException(file + ": dataset not found");
        if (file.getFileName().toString().endsWith(".arrow")) {
            List<Row> rows = new ArrayList<>();
            int skipped = 0, i = 0;
            for (String[] r : ArrowRows.read(file, List.of(problemField, answerField))) {
                i++;
                if (r[0] == null || r[1] == null || r[1].isBlank()) skipped++;
                else rows.add(new Row(Integer.toString(i), r[0], r[1]));
            }
            if (rows.isEmpty()) throw new CheckpointFormatException(file + ": no usable rows (columns '" + problemField + "' and '" + answerField + "')");
            return new PromptDataset(rows, skipped, seed);
        }
        ObjectMapper json = new ObjectMapper();
        List<Row> rows = new ArrayList<>();
        int skipped = 0, lineNo = 0;
        for (String line : Files.readAllLines(file)) {
            lineNo++;
            if (line.isBlank()) continue;
            JsonNode n;
            try {
                n = json.readTree(line);
            } catch (com.fasterxml.jackson.core.JacksonException e) {
                throw new CheckpointFormatException(file + ": line " + lineNo + " is not valid JSON: " + e.getOriginalMessage());
            }
            JsonNode p = n.get(problemField), a = n.get(answerField);
            if (p == null || a == null || p.isNull() || a.isNull() || a.asText().isBlank()) {
                skipped++;
                continue;
            }
            rows.add(new Row(n.has("id") ? n.get("id").asText() : Integer.toString(lineNo), p.asText(), a.asText()));
        }
        if (rows.isEmpty()) throw new CheckpointFormatException(file + ": no usable rows (fields '" + problemField + "' and '" + answerField + "')");
        return new PromptDataset(rows, skipped, seed);
    }

    public int size() { return rows.size(); }

    public int skipped() { return skipped; }

    /** The prompt at stream position {@code cursor} (epoch = cursor / size, shuffled per epoch). */
    public Row at(long cursor) {
        int n = rows.size();
        long epoch = cursor / n;
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return rows.get(order[(int) (cursor % n)]);
    }
}
