package dev.tina.eval.tracking;

import dev.tina.eval.Evaluation;
import dev.tina.eval.report.EvalReport;
import dev.tina.eval.report.VariantResult;
import dev.tina.eval.run.SampleLog;
import dev.tina.eval.run.SampleRecord;
import dev.tina.eval.score.AverageScore;
import dev.tina.eval.score.BenchmarkScore;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Summary;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.tina.eval.tracking.Markdown.code;
import static dev.tina.eval.tracking.Markdown.cut;
import static dev.tina.eval.tracking.Markdown.escape;

/**
 * An evaluation as TensorBoard runs, one per variant ({@code OUT/tensorboard/VARIANT/}), so that TensorBoard
 * overlays the variants in each chart: every benchmark's pass@1, pass@k and maj@k (and their average over
 * benchmarks) as scalars at the variant's training step (N for a {@code checkpoint-N/adapter}, else 0), and
 * the first sample of each benchmark's first problem as text. Rewritten whole from the report on every run,
 * so a resumed evaluation never repeats a point.
 */
public final class EvalEvents {
    public static final String DIR = "tensorboard";
    static final String SAMPLES_TAG = "eval/samples";
    static final int MAX_CHARS = 2000;

    private EvalEvents() {}

    /** Writes every variant's run folder; returns the folder to give {@code tensorboard --logdir}. */
    public static Path write(Path out, EvalReport report) throws IOException {
        Path root = out.resolve(DIR);
        for (VariantResult v : report.variants()) {
            List<Summary.Value> values = scalars(v);
            String samples = samples(SampleLog.readAll(Evaluation.samplesFile(out, v.variant())), v.scores().stream().map(BenchmarkScore::name).toList());
            if (samples != null) values.add(EventFileWriter.text(SAMPLES_TAG, samples));
            EventFiles.writeWhole(root.resolve(v.variant().name()), v.variant().trainingStep(), values);
        }
        return root;
    }

    static List<Summary.Value> scalars(VariantResult v) {
        List<Summary.Value> values = new ArrayList<>();
        for (BenchmarkScore b : v.scores()) add(values, "eval/" + b.name() + "/", b.pass1(), b.passAtK(), b.majAtK());
        AverageScore avg = v.average();
        add(values, "eval/avg/", avg.pass1(), avg.passAtK(), avg.majAtK());
        return values;
    }

    private static void add(List<Summary.Value> values, String prefix, double pass1, Map<Integer, Double> passAtK, Map<Integer, Double> majAtK) {
        values.add(EventFileWriter.scalar(prefix + "pass@1", pass1));
        passAtK.forEach((k, p) -> { if (k > 1) values.add(EventFileWriter.scalar(prefix + "pass@" + k, p)); });
        majAtK.forEach((k, p) -> { if (k > 1) values.add(EventFileWriter.scalar(prefix + "maj@" + k, p)); });
    }

    /**
     * The first sample of each benchmark's first problem as Markdown, in the report's benchmark order (the log's
     * order depends on waves and resumption); the completion as a code block, shown verbatim.
     */
    static String samples(List<SampleRecord> records, List<String> benchmarks) {
        Map<String, SampleRecord> first = new LinkedHashMap<>();
        for (SampleRecord r : records) {
            SampleRecord have = first.get(r.benchmark());
            if (have == null || r.problemIndex() < have.problemIndex() || (r.problemIndex() == have.problemIndex() && r.sample() < have.sample())) {
                first.put(r.benchmark(), r);
            }
        }
        if (first.isEmpty()) return null;
        StringBuilder sb = new StringBuilder();
        for (String b : benchmarks) {
            SampleRecord r = first.get(b);
            if (r == null) continue;
            sb.append("**").append(escape(r.benchmark())).append("** problem ").append(escape(r.problemId())).append(", sample ").append(r.sample() + 1)
                    .append(": ").append(escape(r.verdict())).append("\n\n");
            sb.append(code("gold: " + r.gold() + "\nextracted: " + (r.extracted() == null ? "(none)" : r.extracted())))
                    .append("\ncompletion:\n\n").append(code(cut(r.completion(), MAX_CHARS))).append('\n');
        }
        return sb.toString();
    }
}
