package dev.tina.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.tina.eval.grading.Conventions;
import dev.tina.eval.grading.Explanation;
import dev.tina.eval.grading.GradeResult;
import dev.tina.eval.grading.Grader;
import dev.tina.export.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

@Command(name = "grade", mixinStandardHelpOptions = true,
        description = "Grade model answers: JSONL lines with 'gold' and 'prediction' in; the same lines with 'correct' and "
                + "'extracted' added out, then one summary line (counts, accuracy, timeouts, unparseable golds). With --explain, "
                + "each case also says what was read from both sides, how each parsed and which rule decided.")
final class GradeCommand implements Callable<Integer> {
    @Option(names = "--input", required = true, description = "JSONL file, one object per line with string fields 'gold' and 'prediction'")
    Path input;

    @Option(names = "--out", description = "graded JSONL (written atomically); default: stdout")
    Path out;

    @Option(names = "--deadline-ms", defaultValue = "5000", description = "hard limit per answer, past it the answer scores 0 and counts as a timeout; default ${DEFAULT-VALUE}")
    long deadlineMs;

    @Option(names = "--threads", defaultValue = "0", description = "answers graded at once; 0 = one per core")
    int threads;

    @Option(names = "--explain", description = "per case: the gold and answer read, how each parsed, the rules that decided; "
            + "printed as text (on stdout, the graded JSONL then needs --out) and added to each JSONL line as 'explain'")
    boolean explain;

    @Option(names = "--conventions", defaultValue = "tina", description = "tina (default) or math-verify: Math-Verify's choices "
            + "where graders differ (see eval-suite/README.md); default ${DEFAULT-VALUE}")
    String conventions;

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
        Conventions conv;
        try {
            conv = Conventions.named(conventions);
        } catch (IllegalArgumentException e) {
            stderr.println("tina grade: error: --conventions: " + e.getMessage());
            return 2;
        }

        List<Explanation> results = new ArrayList<>(rows.size());
        int workers = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        ExecutorService pool = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "tina-grade-caller");
            t.setDaemon(true);
            return t;
        });
        try (Grader grader = new Grader(new Grader.Options(Duration.ofMillis(deadlineMs), Math.max(8, 4 * workers), conv))) {
            grader.warmUp();
            List<Future<Explanation>> pending = new ArrayList<>(rows.size());
            for (Row r : rows) {
                pending.add(pool.submit(() -> explain ? grader.explain(r.gold(), r.prediction())
                        : new Explanation(grader.grade(r.gold(), r.prediction()), null, null, null, null, null, List.of(), List.of())));
            }
            for (Future<Explanation> f : pending) results.add(f.get());
        } finally {
            pool.shutdownNow();
        }

        int warnings = 0, unparseable = 0, timeouts = 0, correct = 0, noAnswer = 0;
        for (int i = 0; i < rows.size(); i++) {
            GradeResult r = results.get(i).result();
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

        if (out != null) Files.createDirectories(out.toAbsolutePath().getParent());
        if (out != null) AtomicFiles.write(out.toAbsolutePath(), tmp -> {
            try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                write(w, rows, results);
            }
        });
        if (explain) report(stdout, rows, results);
        else if (out == null) write(stdout, rows, results);
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
        s.put("conventions", conventions.strip().toLowerCase(java.util.Locale.ROOT));
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

    private static void write(Writer w, List<Row> rows, List<Explanation> results) throws IOException {
        for (int i = 0; i < rows.size(); i++) {
            ObjectNode o = rows.get(i).json();
            Explanation e = results.get(i);
            o.put("correct", e.result().correct());
            o.put("extracted", e.result().extracted());
            if (e.goldParsed() != null) o.set("explain", explainJson(e));
            w.write(JSON.writeValueAsString(o));
            w.write('\n');
        }
        w.flush();
    }

    private static ObjectNode explainJson(Explanation e) {
        ObjectNode x = JSON.createObjectNode();
        x.put("verdict", e.result().status().name().toLowerCase(java.util.Locale.ROOT));
        x.put("gold_read", e.goldExtracted());
        x.put("gold_parsed", e.goldParsed());
        x.put("source", e.source());
        x.put("prediction_parsed", e.predictionParsed());
        ArrayNode tried = x.putArray("passed_over");
        e.tried().forEach(tried::add);
        ArrayNode rules = x.putArray("rules");
        e.rules().forEach(r -> rules.add(r.strip()));
        x.put("detail", e.result().detail());
        x.put("micros", e.result().micros());
        return x;
    }

    /** The human-readable report of --explain: one block per case. */
    private void report(PrintWriter w, List<Row> rows, List<Explanation> results) {
        for (int i = 0; i < rows.size(); i++) {
            Explanation e = results.get(i);
            GradeResult r = e.result();
            w.println("== " + input.getFileName() + ":" + rows.get(i).line() + "  " + r.status() + " (" + r.micros() / 1000.0 + " ms)");
            w.println("   gold       " + oneLine(rows.get(i).gold()));
            w.println("   gold read  " + oneLine(e.goldExtracted()) + "  ->  " + oneLine(e.goldParsed()));
            for (String t : e.tried()) w.println("   passed     " + oneLine(t));
            w.println("   answer     " + (e.extracted() == null ? "(none)" : oneLine(e.extracted()) + "  [" + e.source() + "]"));
            if (e.predictionParsed() != null) w.println("   parsed     " + oneLine(e.predictionParsed()));
            for (String rule : e.rules()) w.println("   rule       " + rule);
            w.println("   decided    " + oneLine(r.detail()));
        }
        w.flush();
    }

    private static String oneLine(String s) {
        if (s == null) return "(none)";
        String t = s.replace("\n", "⏎");
        return t.length() <= 200 ? t : t.substring(0, 197) + "...";
    }
}
