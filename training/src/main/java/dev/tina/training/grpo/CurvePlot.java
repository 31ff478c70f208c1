package dev.tina.training.grpo;

import dev.tina.eval.report.Charts;
import org.jfree.chart.JFreeChart;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Training curves as a PNG: one panel per metric against the step, two panels a row (eval-suite's {@link Charts}). */
final class CurvePlot {
    private CurvePlot() {}

    static void write(Path png, Map<String, List<Double>> series) throws IOException {
        List<JFreeChart> panels = new ArrayList<>();
        for (var e : series.entrySet()) {
            panels.add(Charts.lines(e.getKey() + " (" + e.getValue().size() + " steps)", "step", e.getKey(),
                    List.of(new Charts.Series(e.getKey(), e.getValue())), null, null));
        }
        if (panels.isEmpty()) panels.add(Charts.lines("no metrics yet", "step", "", List.of(), null, null));
        Charts.writePng(png, panels, 2, 520, 260, null);
    }
}
