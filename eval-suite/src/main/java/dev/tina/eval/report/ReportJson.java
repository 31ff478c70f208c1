package dev.tina.eval.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.eval.run.EvalSettings;
import dev.tina.eval.run.RunManifest;
import dev.tina.eval.score.AverageScore;
import dev.tina.eval.score.BenchmarkScore;

import java.util.Map;

/**
 * {@code report.json}. Top-level keys: {@code table} (the paper's layout: pass@1 in percent, one row per
 * variant, benchmarks then avg), {@code results} (every score with its interval and counts), {@code timing} and
 * {@code provenance}. {@code table} and {@code results} are functions of the samples alone; {@code timing} and
 * the times in {@code provenance} are not.
 */
public final class ReportJson {
    public static final String FORMAT = "tina-eval-report/1";

    private ReportJson() {}

    public static ObjectNode toJson(EvalReport report, ObjectMapper json) {
        ObjectNode root = json.createObjectNode();
        root.put("format", FORMAT);
        ObjectNode table = root.putObject("table");
        table.put("metric", "pass@1 (%)");
        ArrayNode cols = table.putArray("columns");
        report.variants().getFirst().scores().forEach(s -> cols.add(s.label()));
        cols.add("avg");
        ArrayNode rows = table.putArray("rows");
        for (VariantResult v : report.variants()) {
            ObjectNode row = rows.addObject();
            row.put("model", v.variant().name());
            ArrayNode values = row.putArray("values");
            v.scores().forEach(s -> values.add(percent(s.pass1())));
            values.add(percent(v.average().pass1()));
        }

        ArrayNode results = root.putArray("results");
        for (VariantResult v : report.variants()) {
            ObjectNode r = results.addObject();
            r.put("variant", v.variant().name());
            if (v.variant().adapter() == null) {
                r.putNull("adapter");
            } else {
                ObjectNode a = r.putObject("adapter");
                a.put("path", v.variant().adapter().toAbsolutePath().normalize().toString());
                a.put("sha256", v.variant().sha256());
                ObjectNode files = a.putObject("files_sha256");
                v.variant().files().entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> files.put(e.getKey(), e.getValue()));
            }
            ArrayNode bs = r.putArray("benchmarks");
            for (BenchmarkScore s : v.scores()) {
                ObjectNode b = bs.addObject();
                b.put("name", s.name());
                b.put("label", s.label());
                b.put("problems", s.problems());
                b.put("samples_per_problem", s.samplesPerProblem());
                b.put("samples", s.samples());
                b.put("correct_samples", s.correct());
                b.put("pass@1", s.pass1());
                interval(b, "pass@1_ci95", s.ci95());
                ks(b, "pass@k", s.passAtK());
                ks(b, "maj@k", s.majAtK());
                b.put("no_answer", s.noAnswer());
                b.put("truncated", s.truncated());
                b.put("grade_timeouts", s.timeouts());
                b.put("mean_completion_tokens", s.meanTokens());
            }
            AverageScore avg = v.average();
            ObjectNode a = r.putObject("average");
            a.put("benchmarks", avg.benchmarks());
            a.put("problems", avg.problems());
            a.put("samples", avg.samples());
            a.put("pass@1", avg.pass1());
            interval(a, "pass@1_ci95", avg.ci95());
            ks(a, "pass@k", avg.passAtK());
            ks(a, "maj@k", avg.majAtK());
        }

        ArrayNode timing = root.putArray("timing");
        for (VariantResult v : report.variants()) timing(timing.addObject().put("variant", v.variant().name()), v.timing());

        Provenance p = report.provenance();
        ObjectNode prov = root.putObject("provenance");
        prov.put("tool_version", p.toolVersion());
        prov.put("grader_version", p.graderVersion());
        ObjectNode m = prov.putObject("model");
        m.put("path", p.model().path());
        m.put("export_dir", p.model().exportDir());
        m.put("source_fingerprint", p.model().fingerprint());
        m.put("architecture", p.model().architecture());
        EvalSettings s = p.settings();
        ObjectNode sampling = prov.putObject("sampling");
        sampling.put("temperature", s.temperature());
        sampling.put("top_p", s.topP());
        sampling.put("top_k", 0);
        sampling.put("min_p", 0.0);
        sampling.put("max_new_tokens", s.maxNewTokens());
        sampling.put("n_samples", s.samples());
        sampling.put("seed", s.seed());
        sampling.put("seed_derivation", p.seedDerivation());
        ObjectNode prompt = prov.putObject("prompt");
        prompt.put("template", p.promptTemplate());
        prompt.put("chat_template", s.chat());
        prompt.put("system", s.system());
        ArrayNode benches = prov.putArray("benchmarks");
        for (RunManifest.BenchmarkInfo b : p.benchmarks()) {
            benches.addObject().put("name", b.name()).put("label", b.label()).put("source", b.source()).put("sha256", b.sha256()).put("problems", b.problems());
        }
        prov.put("limit", s.limit());
        prov.put("confidence_interval", p.ciMethod());
        prov.put("device", s.device());
        prov.put("batch_rows", s.batchRows());
        prov.put("started", p.started());
        prov.put("finished", p.finished());
        timing(prov.putObject("time"), report.totalTiming());
        return root;
    }

    private static void timing(ObjectNode o, Timing t) {
        o.put("sessions", t.sessions());
        o.put("wall_seconds", t.seconds());
        o.put("generation_seconds", t.generationSeconds());
        o.put("tokens_generated", t.tokens());
        o.put("tokens_regenerated_on_resume", t.discardedTokens());
        o.put("tokens_per_second", t.tokensPerSecond());
        o.put("seconds_per_1000_tokens", t.secondsPer1000Tokens());
    }

    private static void interval(ObjectNode o, String name, double[] ci) {
        o.putArray(name).add(ci[0]).add(ci[1]);
    }

    private static void ks(ObjectNode o, String name, Map<Integer, Double> byK) {
        ObjectNode n = o.putObject(name);
        byK.forEach((k, v) -> n.put(Integer.toString(k), v));
    }

    /** Percent with two decimals, as the paper prints. */
    static double percent(double fraction) {
        return Math.round(fraction * 10000) / 100.0;
    }
}
