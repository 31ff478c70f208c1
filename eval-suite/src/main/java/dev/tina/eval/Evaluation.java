package dev.tina.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.eval.bench.Benchmark;
import dev.tina.eval.bench.Problem;
import dev.tina.eval.bench.PromptTemplates;
import dev.tina.eval.grading.GoldCheck;
import dev.tina.eval.grading.Grader;
import dev.tina.eval.report.EvalReport;
import dev.tina.eval.report.Provenance;
import dev.tina.eval.report.ReportChart;
import dev.tina.eval.report.ReportJson;
import dev.tina.eval.report.ReportMarkdown;
import dev.tina.eval.report.Timing;
import dev.tina.eval.report.VariantResult;
import dev.tina.eval.run.EvalRunner;
import dev.tina.eval.run.EvalSettings;
import dev.tina.eval.run.Generator;
import dev.tina.eval.run.ModelInfo;
import dev.tina.eval.run.RunManifest;
import dev.tina.eval.run.SampleLog;
import dev.tina.eval.run.SampleRecord;
import dev.tina.eval.run.Variant;
import dev.tina.eval.score.AverageScore;
import dev.tina.eval.score.BenchmarkScore;
import dev.tina.eval.score.Bootstrap;
import dev.tina.eval.score.Scorer;
import dev.tina.export.ToolVersion;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * A whole evaluation in a run folder: checks the data, pins the run ({@code run.json}), generates and grades the
 * missing samples of each variant ({@code samples/VARIANT.jsonl}, appended as they finish; {@code sessions.jsonl}
 * records each invocation's time), then writes {@code report.json}, {@code report.md} and {@code report.png} from
 * every sample on disk, so an interrupted run, resumed, reports exactly what an uninterrupted one would.
 */
public final class Evaluation {
    public static final String PROMPT_TEMPLATE = "Tina's lighteval MATH_QUERY_TEMPLATE (shangshang-wang/Tina scripts/eval/run_eval_custom_tasks.py), "
            + "zero-shot, problem in the user turn; GPQA: its GPQA_QUERY_TEMPLATE with the options shuffled by a fixed seed";
    public static final String SEED_DERIVATION = "sample s of the problem at run index i (benchmarks concatenated in the order given, each cut to "
            + "--limit) draws from its own stream seeded by (seed, i, s), so samples do not depend on batching, waves or resumption";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper PRETTY = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Evaluation() {}

    /** The benchmarks' problems in run order, with the data digests that pin a run. */
    public record Data(List<Benchmark> benchmarks, List<RunManifest.BenchmarkInfo> infos, List<Problem> problems) {}

    /** Opens one generator per variant (the caller binds the adapter); closed after that variant. */
    public interface Generators {
        Generator open(Variant variant) throws Exception;
    }

    /** Progress and notes for the console. */
    public interface Listener extends EvalRunner.ProgressSink {
        Listener QUIET = (v, p, d) -> x -> { };

        default void note(String message) {}
    }

    /** Reads every benchmark (bad rows are errors naming {@code file:line}) before anything expensive starts. */
    public static Data load(List<Benchmark> benchmarks, int limit) throws IOException {
        List<RunManifest.BenchmarkInfo> infos = new ArrayList<>();
        List<Problem> problems = new ArrayList<>();
        for (Benchmark b : benchmarks) {
            List<Problem> ps = b.load(limit);
            if (ps.isEmpty()) throw new IllegalArgumentException(b.name() + ": no problems");
            infos.add(new RunManifest.BenchmarkInfo(b.name(), b.label(), b.source(), b.sha256(), ps.size()));
            problems.addAll(ps);
        }
        return new Data(List.copyOf(benchmarks), List.copyOf(infos), List.copyOf(problems));
    }

    public static EvalReport run(Path out, EvalSettings settings, ModelInfo model, Data data, List<Variant> variants, Generators generators,
                                 Listener listener, Duration gradeDeadline) throws Exception {
        if (variants.isEmpty()) throw new IllegalArgumentException("nothing to evaluate");
        try (Grader grader = new Grader(new Grader.Options(gradeDeadline, 32))) {
            grader.warmUp();
            checkGolds(data, grader);
            Files.createDirectories(out);
            try (FileChannel lockFile = FileChannel.open(out.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock lock = lockFile.tryLock()) {
                if (lock == null) throw new IllegalArgumentException(out + ": another tina eval is writing to this folder");
                // the first generator checks every prompt against the context before run.json is written, so a
                // run that cannot start leaves no folder claiming otherwise
                Generator first = generators.open(variants.getFirst());
                List<String> prompts;
                try {
                    prompts = renderAndCheck(data, first, settings);
                    RunManifest.check(out, RunManifest.pinned(settings, model, data.infos(), promptDigest(), Grader.VERSION), variants);
                } catch (Exception e) {
                    first.close();
                    throw e;
                }
                for (Variant v : variants) {
                    try (Generator gen = v == variants.getFirst() ? first : generators.open(v)) {
                        try (SampleLog log = SampleLog.open(samplesFile(out, v))) {
                            if (log.droppedTornLine()) listener.note(log.file() + ": cut off a torn last line (an interrupted write); that sample is made again");
                            EvalRunner runner = new EvalRunner(data.problems(), prompts, settings.samples(), grader);
                            runner.run(v.name(), gen, log, new EvalRunner.ProgressSink() {
                                @Override
                                public LongConsumer start(String variant, int pending, int alreadyDone) {
                                    return listener.start(variant, pending, alreadyDone);
                                }

                                @Override
                                public void finished(EvalRunner.Session s) {
                                    if (s.discardedDiffering() > 0) {
                                        listener.note(s.discardedDiffering() + " of the " + s.discarded() + " samples made again on resume differ from the ones "
                                                + "on disk (those are kept): sampling did not reproduce exactly on this machine or device");
                                    }
                                    try {
                                        appendSession(out, s);
                                    } catch (IOException e) { // timing only; never mask the run's own outcome
                                        listener.note(out.resolve("sessions.jsonl") + ": could not record this session's time: " + e);
                                    }
                                    listener.finished(s);
                                }
                            });
                        }
                    }
                }
                EvalReport report = report(out, settings, model, data, variants);
                write(out, report);
                return report;
            }
        }
    }

    public static Path samplesFile(Path out, Variant v) { return out.resolve("samples").resolve(v.name() + ".jsonl"); }

    /** Builds the report from the samples and sessions on disk (every variant must be complete). */
    public static EvalReport report(Path out, EvalSettings settings, ModelInfo model, Data data, List<Variant> variants) throws IOException {
        List<JsonNode> sessions = sessions(out);
        List<VariantResult> results = new ArrayList<>();
        for (Variant v : variants) {
            List<SampleRecord> records = SampleLog.readAll(samplesFile(out, v));
            List<BenchmarkScore> scores = new ArrayList<>();
            for (RunManifest.BenchmarkInfo b : data.infos()) scores.add(Scorer.benchmark(b.name(), b.label(), b.problems(), settings.samples(), records));
            AverageScore avg = Scorer.average(scores);
            int count = 0;
            double secs = 0, gen = 0;
            long tokens = 0, dropped = 0;
            for (JsonNode s : sessions) {
                if (!s.path("variant").asText().equals(v.name())) continue;
                count++;
                secs += s.path("seconds").asDouble();
                gen += s.path("generation_seconds").asDouble();
                tokens += s.path("tokens").asLong();
                dropped += s.path("discarded_tokens").asLong();
            }
            results.add(new VariantResult(v, scores, avg, new Timing(count, secs, gen, tokens, dropped)));
        }
        String started = sessions.stream().map(s -> s.path("started").asText()).filter(s -> !s.isEmpty()).sorted().findFirst().orElse(Instant.now().toString());
        Provenance p = new Provenance(ToolVersion.VERSION, Grader.VERSION, model, settings, data.infos(), PROMPT_TEMPLATE, SEED_DERIVATION,
                Bootstrap.METHOD, started, Instant.now().toString());
        return new EvalReport(results, p);
    }

    /** report.json, report.md and report.png, each written under a temporary name and moved into place. */
    public static void write(Path out, EvalReport report) throws IOException {
        Path json = out.resolve("report.json.tmp"), md = out.resolve("report.md.tmp"), png = out.resolve("report.png.tmp");
        PRETTY.writeValue(json.toFile(), ReportJson.toJson(report, PRETTY));
        Files.writeString(md, ReportMarkdown.render(report), StandardCharsets.UTF_8);
        ReportChart.write(report, png);
        Files.move(json, out.resolve("report.json"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Files.move(md, out.resolve("report.md"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Files.move(png, out.resolve("report.png"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** A gold the grader cannot read would score every sample wrong: stop before generating, naming the row. */
    static void checkGolds(Data data, Grader grader) {
        for (Problem p : data.problems()) {
            GoldCheck c = grader.validateGold(p.gold());
            if (!c.parseable()) throw new IllegalArgumentException(p.origin() + ": gold answer '" + p.gold() + "' cannot be read (" + c.reason() + ")");
        }
    }

    /** The rendered prompts; every prompt plus max_new_tokens must fit the model's context. */
    static List<String> renderAndCheck(Data data, Generator gen, EvalSettings s) {
        List<String> prompts = new ArrayList<>(data.problems().size());
        int context = gen.contextLength();
        for (Problem p : data.problems()) {
            int tokens = gen.promptTokens(p.message());
            if ((long) tokens + s.maxNewTokens() > context) {
                throw new IllegalArgumentException(p.origin() + ": the prompt of " + p.benchmark() + " problem " + p.id() + " has " + tokens
                        + " tokens; with --max-new-tokens " + s.maxNewTokens() + " it needs " + (tokens + s.maxNewTokens())
                        + " positions, the model's context is " + context + "; lower --max-new-tokens");
            }
            prompts.add(gen.render(p.message()));
        }
        return prompts;
    }

    static String promptDigest() {
        try {
            var md = java.security.MessageDigest.getInstance("SHA-256");
            md.update((PromptTemplates.MATH_PREFIX + "\u0000" + PromptTemplates.CHOICE_PREFIX).getBytes(StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(md.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void appendSession(Path out, EvalRunner.Session s) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.put("variant", s.variant());
        o.put("started", s.started());
        o.put("seconds", s.seconds());
        o.put("generation_seconds", s.generationSeconds());
        o.put("already_done", s.alreadyDone());
        o.put("written", s.written());
        o.put("tokens", s.tokens());
        o.put("discarded_samples", s.discarded());
        o.put("discarded_tokens", s.discardedTokens());
        o.put("discarded_differing", s.discardedDiffering());
        o.put("completed", s.completed());
        Files.writeString(out.resolve("sessions.jsonl"), JSON.writeValueAsString(o) + "\n", StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** Timing only: a line that does not parse (a torn write) is skipped. */
    private static List<JsonNode> sessions(Path out) throws IOException {
        Path f = out.resolve("sessions.jsonl");
        List<JsonNode> list = new ArrayList<>();
        if (!Files.exists(f)) return list;
        for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
            try {
                if (!line.isBlank()) list.add(JSON.readTree(line));
            } catch (com.fasterxml.jackson.core.JacksonException torn) {
                // the only cost is a session missing from the timing
            }
        }
        return list;
    }
}
