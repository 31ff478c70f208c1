package dev.tina.eval.report;

import dev.tina.eval.score.BenchmarkScore;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code report.png}: pass@1 (%) per benchmark and avg, one bar per variant, 95% intervals as whiskers. */
public final class ReportChart {
    private ReportChart() {}

    public static void write(EvalReport report, Path png) throws IOException {
        List<String> labels = new ArrayList<>();
        for (BenchmarkScore b : report.variants().getFirst().scores()) labels.add(b.label());
        labels.add("avg");
        List<Charts.Bars> bars = new ArrayList<>();
        for (VariantResult v : report.variants()) {
            List<Double> value = new ArrayList<>(), low = new ArrayList<>(), high = new ArrayList<>();
            for (int i = 0; i < labels.size(); i++) {
                boolean avg = i == labels.size() - 1;
                double p = avg ? v.average().pass1() : v.scores().get(i).pass1();
                double[] ci = avg ? v.average().ci95() : v.scores().get(i).ci95();
                value.add(100 * p);
                low.add(100 * ci[0]);
                high.add(100 * ci[1]);
            }
            bars.add(new Charts.Bars(v.variant().name(), value, low, high));
        }
        var chart = Charts.bars("pass@1 with 95% bootstrap intervals", "benchmark", "pass@1 (%)", labels, bars, 0, 100, "%.1f");
        int width = Math.max(640, 90 + labels.size() * Math.max(70, 26 * bars.size() + 30));
        Charts.writePng(png, List.of(chart), 1, width, 440, null);
    }
}
