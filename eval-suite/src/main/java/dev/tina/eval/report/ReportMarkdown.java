package dev.tina.eval.report;

import dev.tina.eval.run.Variant;

import dev.tina.eval.run.EvalSettings;
import dev.tina.eval.run.RunManifest;
import dev.tina.eval.score.AverageScore;
import dev.tina.eval.score.BenchmarkScore;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@code report.md}: the paper-style table first, then per-variant details, then provenance. */
public final class ReportMarkdown {
    private ReportMarkdown() {}

    public static String render(EvalReport report) {
        StringBuilder md = new StringBuilder();
        EvalSettings s = report.provenance().settings();
        md.append("# tina eval\n\n");
        md.append(table(report)).append('\n');
        md.append("pass@1 in %: the fraction of a problem's ").append(s.samples()).append(s.samples() == 1 ? " sample" : " samples")
                .append(" graded correct, averaged over problems; avg is the unweighted mean over benchmarks, as in the paper's table. ")
                .append("Intervals below: ").append(report.provenance().ciMethod()).append(".\n");

        for (VariantResult v : report.variants()) {
            md.append("\n## ").append(v.variant().name()).append("\n\n");
            if (v.variant().adapter() != null) {
                md.append("Adapter `").append(v.variant().adapter().toAbsolutePath().normalize()).append("`, sha256 `").append(v.variant().sha256()).append("`\n\n");
            }
            List<Integer> ks = v.average().passAtK().keySet().stream().toList();
            md.append("| benchmark | problems | samples | pass@1 | 95% CI |");
            for (int k : ks) if (k > 1) md.append(" pass@").append(k).append(" |");
            for (int k : ks) md.append(" maj@").append(k).append(" |");
            md.append(" no answer | truncated | grade timeouts | mean tokens |\n|---|---:|---:|---:|---|");
            md.append("---:|".repeat((int) ks.stream().filter(k -> k > 1).count() + ks.size())).append("---:|---:|---:|---:|\n");
            for (BenchmarkScore b : v.scores()) {
                md.append("| ").append(b.label()).append(" | ").append(b.problems()).append(" | ").append(b.samples()).append(" | ")
                        .append(pct(b.pass1())).append(" | ").append(ci(b.ci95())).append(" |");
                appendKs(md, b.passAtK(), b.majAtK());
                md.append(' ').append(b.noAnswer()).append(" | ").append(b.truncated()).append(" | ").append(b.timeouts()).append(" | ")
                        .append(String.format(Locale.ROOT, "%.1f", b.meanTokens())).append(" |\n");
            }
            AverageScore a = v.average();
            md.append("| **avg** | ").append(a.problems()).append(" | ").append(a.samples()).append(" | **").append(pct(a.pass1())).append("** | ")
                    .append(ci(a.ci95())).append(" |");
            appendKs(md, a.passAtK(), a.majAtK());
            md.append(" | | | |\n");
            Timing t = v.timing();
            md.append(String.format(Locale.ROOT, "%nTime: %.1f s over %d session(s); %d tokens generated in %.1f s: %.1f tokens/s, %.2f s per 1,000 tokens%s.%n",
                    t.seconds(), t.sessions(), t.tokens(), t.generationSeconds(), t.tokensPerSecond(), t.secondsPer1000Tokens(),
                    t.discardedTokens() > 0 ? " (" + t.discardedTokens() + " regenerated on resume and dropped)" : ""));
        }

        Provenance p = report.provenance();
        md.append("\n## Provenance\n\n| | |\n|---|---|\n");
        row(md, "model", "`" + p.model().path() + "` (" + p.model().architecture() + "), source fingerprint `" + p.model().fingerprint() + "`");
        row(md, "export", "`" + p.model().exportDir() + "`");
        for (VariantResult v : report.variants()) {
            if (v.variant().adapter() != null) {
                StringBuilder files = new StringBuilder();
                v.variant().files().entrySet().stream().sorted(Map.Entry.comparingByKey())
                        .forEach(e -> files.append("<br>").append(e.getKey()).append(" `").append(e.getValue()).append('`'));
                row(md, "adapter " + v.variant().name(), "`" + v.variant().adapter().toAbsolutePath().normalize() + "` sha256 `" + v.variant().sha256() + "`" + files);
            }
        }
        row(md, "sampling", String.format(Locale.ROOT, "temperature %s, top-p %s, top-k off, min-p off, max_new_tokens %d, %d sample(s) per problem",
                trim(s.temperature()), trim(s.topP()), s.maxNewTokens(), s.samples()));
        row(md, "seed", s.seed() + "; " + p.seedDerivation());
        row(md, "prompt", p.promptTemplate() + "; " + (s.chat() ? "model's chat template" : "raw text, no chat template")
                + (s.system() == null ? ", no system prompt" : ", system prompt `" + s.system().replace("|", "\\|").replace("\n", " ") + "`"));
        for (RunManifest.BenchmarkInfo b : p.benchmarks()) {
            row(md, "data " + b.label(), b.problems() + " problems" + (s.limit() > 0 ? " (--limit " + s.limit() + ")" : "") + "; " + b.source()
                    + "; sha256 `" + b.sha256() + "`");
        }
        row(md, "grader", p.graderVersion());
        row(md, "interval", p.ciMethod());
        Timing t = report.totalTiming();
        row(md, "time", String.format(Locale.ROOT, "%.1f s wall over %d session(s), %d tokens, %.1f tokens/s (%s, batch rows %d); started %s, report %s",
                t.seconds(), t.sessions(), t.tokens(), t.tokensPerSecond(), s.device(), s.batchRows(), p.started(), p.finished()));
        row(md, "tool", "tina " + p.toolVersion());
        return md.toString();
    }

    /** The paper's layout: a row per model, a column per benchmark, then avg; pass@1 in percent. */
    public static String table(EvalReport report) {
        StringBuilder md = new StringBuilder("| model |");
        List<BenchmarkScore> first = report.variants().getFirst().scores();
        for (BenchmarkScore b : first) md.append(' ').append(b.label()).append(" |");
        md.append(" avg |\n|---|").append("---:|".repeat(first.size() + 1)).append('\n');
        for (VariantResult v : report.variants()) {
            md.append("| ").append(v.variant().name()).append(" |");
            for (BenchmarkScore b : v.scores()) md.append(' ').append(pct(b.pass1())).append(" |");
            md.append(' ').append(pct(v.average().pass1())).append(" |\n");
        }
        // With several adapters (e.g. a run's checkpoints, in order), name the best and the last:
        // papers report the best checkpoint, and users need to know both.
        List<VariantResult> adapters = report.variants().stream().filter(v -> !v.variant().name().equals(Variant.BASE)).toList();
        if (adapters.size() > 1) {
            VariantResult best = adapters.getFirst(), last = adapters.getLast();
            for (VariantResult v : adapters) if (v.average().pass1() > best.average().pass1()) best = v;
            md.append("\nBest adapter: ").append(best.variant().name()).append(" (avg ").append(pct(best.average().pass1()))
                    .append("); final (last listed): ").append(last.variant().name()).append(" (avg ").append(pct(last.average().pass1())).append(").\n");
        }
        return md.toString();
    }

    private static void appendKs(StringBuilder md, Map<Integer, Double> pass, Map<Integer, Double> maj) {
        pass.forEach((k, x) -> { if (k > 1) md.append(' ').append(pct(x)).append(" |"); });
        maj.forEach((k, x) -> md.append(' ').append(pct(x)).append(" |"));
    }

    private static void row(StringBuilder md, String key, String value) {
        md.append("| ").append(key).append(" | ").append(value).append(" |\n");
    }

    static String pct(double fraction) { return String.format(Locale.ROOT, "%.2f", fraction * 100); }

    private static String ci(double[] ci) { return "[" + pct(ci[0]) + ", " + pct(ci[1]) + "]"; }

    private static String trim(double d) { return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d); }
}
