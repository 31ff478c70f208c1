package dev.tina.training.tiny;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tina.eval.report.Charts;
import dev.tina.export.AtomicFiles;
import org.jfree.chart.JFreeChart;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** The demo's Markdown and PNG (four panels drawn with eval-suite's {@link Charts}), both written atomically. */
final class DemoReport {
    private DemoReport() {}

    static void markdown(Path file, JsonNode r) throws IOException {
        StringBuilder sb = new StringBuilder();
        JsonNode ev = r.get("evaluation");
        sb.append("# tina demo: GRPO on LoRA for the embedded tiny model\n\n");
        sb.append(String.format(Locale.ROOT, "Held-out: %d problems × %d samples, temperature %.1f, top-p %.2f (%s).%n%n",
                ev.get("problems").asInt(), ev.get("samples_per_problem").asInt(), ev.get("temperature").asDouble(),
                ev.get("top_p").asDouble(), ev.get("held_out").asText()));
        int mainRank = r.get("main_rank").asInt();
        int seeds = 0;
        for (JsonNode x : r.get("runs")) if (x.get("rank").asInt() == mainRank) seeds++;
        sb.append("| | before (base) | after GRPO (rank ").append(mainRank).append(", ").append(seeds).append(seeds == 1 ? " seed" : " seeds").append(") |\n|---|---|---|\n");
        sb.append(String.format(Locale.ROOT, "| accuracy | %.3f | %.3f%s |%n", r.get("accuracy_before").asDouble(), r.get("accuracy_after").asDouble(),
                seeds > 1 ? String.format(Locale.ROOT, " ± %.3f (min %.3f, max %.3f)", r.get("accuracy_after_std").asDouble(),
                        r.get("accuracy_after_min").asDouble(), r.get("accuracy_after_max").asDouble()) : ""));
        sb.append(String.format(Locale.ROOT, "| format rate | %.3f | %.3f |%n", r.get("format_before").asDouble(), r.get("format_after").asDouble()));
        sb.append(String.format(Locale.ROOT, "| first line step-by-step | %.3f | %.3f |%n", r.get("step_by_step_before").asDouble(),
                r.get("step_by_step_after").asDouble()));
        sb.append(String.format(Locale.ROOT, "| accuracy when step-by-step | %.3f | %.3f |%n", r.get("accuracy_before_when_step_by_step").asDouble(),
                r.get("accuracy_after_when_step_by_step").asDouble()));
        sb.append(String.format(Locale.ROOT, "| accuracy when one line | %.3f | |%n%n", r.get("accuracy_before_when_one_line").asDouble()));
        sb.append(String.format(Locale.ROOT, "Wall time %.0f s on %d cores; sampling %.0f tokens/s (evaluation), %.0f tokens/s (GRPO rollouts).%n%n",
                r.get("wall_seconds").asDouble(), r.get("cores").asInt(), r.get("eval_tokens_per_second").asDouble(),
                r.get("rollout_tokens_per_second").asDouble()));
        sb.append("| rank | alpha | seed | accuracy after | format after | step-by-step after | format reward ≥ 0.95 from step | GRPO seconds |\n|---|---|---|---|---|---|---|---|\n");
        for (JsonNode x : r.get("runs")) {
            sb.append(String.format(Locale.ROOT, "| %d | %.0f | %d | %.3f | %.3f | %.3f | %s | %.0f |%n", x.get("rank").asInt(), x.get("alpha").asDouble(),
                    x.get("seed").asLong(), x.get("accuracy_after").asDouble(), x.get("format_after").asDouble(),
                    x.get("step_by_step_after").asDouble(), x.get("first_step_with_format_reward_0.95").asInt() < 0 ? "never"
                            : x.get("first_step_with_format_reward_0.95").asText(), x.get("grpo_seconds").asDouble()));
        }
        Map<Integer, List<Double>> byRank = new TreeMap<>();
        for (JsonNode x : r.get("runs")) byRank.computeIfAbsent(x.get("rank").asInt(), k -> new ArrayList<>()).add(x.get("accuracy_after").asDouble());
        if (byRank.size() > 1) {
            sb.append("\nRank ablation (alpha = 4 × rank, as in the paper), mean held-out accuracy after GRPO:\n\n| rank | runs | accuracy after | gain over base |\n|---|---|---|---|\n");
            for (var e : byRank.entrySet()) {
                double m = TinyDemo.mean(e.getValue().stream().mapToDouble(Double::doubleValue).toArray());
                sb.append(String.format(Locale.ROOT, "| %d | %d | %.3f | %+.3f |%n", e.getKey(), e.getValue().size(), m, m - r.get("accuracy_before").asDouble()));
            }
        }
        sb.append("\nCurves: `report.png`; every number: `report.json`; each run's metrics: `runs/*/metrics.jsonl`.\n");
        AtomicFiles.writeString(file, sb);
    }

    static void chart(Path png, HeldOutEval.Result before, List<TinyDemo.Run> runs, JsonNode r) throws IOException {
        List<Charts.Series> reward = new ArrayList<>(), format = new ArrayList<>(), acc = new ArrayList<>();
        for (TinyDemo.Run x : runs) {
            String name = "rank " + x.rank() + ", seed " + x.seed();
            reward.add(new Charts.Series(name, x.reward()));
            format.add(new Charts.Series(name, x.format()));
            acc.add(new Charts.Series(name, x.accuracy()));
        }
        List<String> labels = new ArrayList<>();
        List<Double> heldOut = new ArrayList<>();
        labels.add("base");
        heldOut.add(before.accuracy());
        for (TinyDemo.Run x : runs) {
            labels.add("r" + x.rank() + " s" + x.seed());
            heldOut.add(x.after().accuracy());
        }
        List<JFreeChart> panels = List.of(
                Charts.lines("total reward per step (format + 2 × accuracy)", "GRPO step", "mean reward", reward, 0.0, 3.0),
                Charts.lines("format reward per step", "GRPO step", "mean format reward", format, 0.0, 1.0),
                Charts.lines("accuracy reward per step (rollouts)", "GRPO step", "mean accuracy reward", acc, 0.0, 1.0),
                Charts.bars("held-out accuracy: base, then each GRPO run", "model", "accuracy", labels,
                        List.of(new Charts.Bars("held-out accuracy", heldOut, null, null)), 0, 1, "%.2f"));
        String footer = String.format(Locale.ROOT, "format rate %.2f → %.2f · wall %.0f s on %d cores · sampling %.0f tok/s (eval), %.0f tok/s (rollouts)",
                r.get("format_before").asDouble(), r.get("format_after").asDouble(), r.get("wall_seconds").asDouble(), r.get("cores").asInt(),
                r.get("eval_tokens_per_second").asDouble(), r.get("rollout_tokens_per_second").asDouble());
        Charts.writePng(png, panels, 2, 560, 300, footer);
    }
}
