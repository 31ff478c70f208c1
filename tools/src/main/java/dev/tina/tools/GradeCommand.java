package dev.tina.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.eval.grading.GradeResult;
import dev.tina.eval.grading.Grader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

@Command(name = "grade", mixinStandardHelpOptions = true,
        description = "Grade model answers: JSONL lines with 'gold' and 'prediction' in; the same lines with 'correct' and "
                + "'extracted' added out, then one summary line (counts, accuracy, timeouts, unparseable golds).")
final class GradeCommand implements Callable<Integer> {
    @Option(names = "--input", required = true, description = "JSONL file, one object per line with string fields 'gold' and 'prediction'")
    Path input;

    @Option(names = "--out", description = "graded JSONL (written atomically); default: stdout")
    Path out;

    @Option(names = "--deadline-ms", defaultValue = "5000", description = "hard limit per answer, past it the answer scores 0 and counts as a timeout; default ${DEFAULT-VALUE}")
    long deadlineMs;

    @Option(names = "--threads", defaultValue = "0", description = "answers graded at once; 0 = one per core")
    int threads;

    @Spec
    CommandSpec spec;

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .setNodeFactory(JsonNodeFactory.withExactBigDecimals(true)); // "27.0" stays 27.0, 1e400 stays 1e400
    private static final int MAX_WARNINGS = 20;

    private record Row(int line, ObjectNode json, String gold, String prediction) {}

    @Override
    public Integer call() throws Exception {
        PrintWriter stdout = spec.commandLine().getOut(), stderr = spec.commandLine().getErr();
        List<Row> rows;
        try {
            rows = read(input);
        } catch (NoSuchFileException e) {
            stderr.println("tina grade: error: no such file: " + input);
            return 2;
        } catch (IllegalArgumentException e) {
            stderr.println("tina grade: error: " + e.getMessage());
            return 2;
        }
        if (deadlineMs <= 0) throw new IllegalArgumentException("--deadline-ms must be positive");

        List<GradeResult> results = new ArrayList<>(rows.size());
        int workers = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        ExecutorService pool = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "tina-grade-caller");
            t.setDaemon(true);
            return t;
        });
        try (Grader grader = new Grader(new Grader.Options(Duration.ofMillis(deadlineMs), Math.max(8, 4 * workers)))) {
            grader.warmUp();
            List<Future<GradeResult>> pending = new ArrayList<>(rows.size());
            for (Row r : rows) pending.add(pool.submit(() -> grader.grade(r.gold(), r.prediction())));
            for (Future<GradeResult> f : pending) results.add(f.get());
        } finally {
            pool.shutdownNow();
        }

        int warnings = 0, unparseable = 0, timeouts = 0, correct = 0, noAnswer = 0;
        for (int i = 0; i < rows.size(); i++) {
            GradeResult r = results.get(i);
            switch (r.status()) {
                case CORRECT -> correct++;
                case NO_ANSWER -> noAnswer++;
                case TIMEOUT -> timeouts++;
                case GOLD_UNPARSEABLE -> {
                    unparseable++;
                    if (warnings++ < MAX_WARNINGS) stderr.println("tina grade: warning: " + input + ":" + rows.get(i).line() + ": gold unparseable: " + r.detail());
                }
                default -> { }
            }
        }
        if (warnings > MAX_WARNINGS) stderr.println("tina grade: warning: " + (warnings - MAX_WARNINGS) + " more unparseable golds");

        if (out == null) {
            write(stdout, rows, results);
        } else {
            writeAtomically(out, rows, results);
        }
        ObjectNode summary = JSON.createObjectNode();
        ObjectNode s = summary.putObject("summary");
        s.put("input", input.toString());
        s.put("lines", rows.size());
        s.put("correct", correct);
        s.put("wrong", rows.size() - correct - noAnswer - timeouts - unparseable);
        s.put("no_answer", noAnswer);
        s.put("timeouts", timeouts);
        s.put("gold_unparseable", unparseable);
        s.put("accuracy", rows.isEmpty() ? 0.0 : (double) correct / rows.size());
        s.put("grader", Grader.VERSION);
        stdout.println(JSON.writeValueAsString(summary));
        stdout.flush();
        stderr.flush();
        return 0;
    }

    /** Reads every line first, so a malformed line fails the run before anything is written. */
    private static List<Row> read(Path file) throws IOException {
        List<Row> rows = new ArrayList<>();
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) continue;
            String where = file + ":" + (i + 1);
            JsonNode n;
            try {
                n = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException(where + ": malformed JSON: " + e.getOriginalMessage());
            }
            if (!(n instanceof ObjectNode o)) throw new IllegalArgumentException(where + ": expected a JSON object, found " + n.getNodeType().name().toLowerCase());
            rows.add(new Row(i + 1, o, field(o, "gold", where), field(o, "prediction", where)));
        }
        return rows;
    }

    private static String field(ObjectNode o, String name, String where) {
        JsonNode v = o.get(name);
        if (v == null || v.isNull()) throw new IllegalArgumentException(where + ": missing field '" + name + "'");
        if (v.isContainerNode()) throw new IllegalArgumentException(where + ": field '" + name + "' must be a string or number");
        return v.isNumber() ? v.decimalValue().toPlainString() : v.asText();
    }

    private static void write(Writer w, List<Row> rows, List<GradeResult> results) throws IOException {
        for (int i = 0; i < rows.size(); i++) {
            ObjectNode o = rows.get(i).json();
            GradeResult r = results.get(i);
            o.put("correct", r.correct());
            o.put("extracted", r.extracted());
            w.write(JSON.writeValueAsString(o));
            w.write('\n');
        }
        w.flush();
    }

    private static void writeAtomically(Path target, List<Row> rows, List<GradeResult> results) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
        try {
            try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                write(w, rows, results);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
