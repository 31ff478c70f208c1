package dev.tina.training.tiny;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tina.export.AtomicFiles;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** The demo's Markdown and PNG (Java2D: four simple panels need no charting library), both written atomically. */
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

    static final Color[] COLORS = {new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44), new Color(214, 39, 40),
            new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194), new Color(127, 127, 127)};

    static void chart(Path png, HeldOutEval.Result before, List<TinyDemo.Run> runs, JsonNode r) throws IOException {
        int w = 520, h = 260;
        BufferedImage img = new BufferedImage(2 * w, 2 * h + 20, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        Map<String, List<Double>> reward = new LinkedHashMap<>(), format = new LinkedHashMap<>(), acc = new LinkedHashMap<>();
        for (TinyDemo.Run x : runs) {
            String name = "r" + x.rank() + " s" + x.seed();
            reward.put(name, x.reward());
            format.put(name, x.format());
            acc.put(name, x.accuracy());
        }
        lines(g, 0, 0, w, h, "total reward per step (format + 2 × accuracy)", reward, 0, 3);
        lines(g, w, 0, w, h, "format reward per step", format, 0, 1);
        lines(g, 0, h, w, h, "accuracy reward per step (rollouts)", acc, 0, 1);
        bars(g, w, h, w, h, before, runs);
        g.setColor(Color.DARK_GRAY);
        g.drawString(String.format(Locale.ROOT, "format rate %.2f → %.2f · wall %.0f s on %d cores · sampling %.0f tok/s (eval), %.0f tok/s (rollouts)",
                r.get("format_before").asDouble(), r.get("format_after").asDouble(), r.get("wall_seconds").asDouble(), r.get("cores").asInt(),
                r.get("eval_tokens_per_second").asDouble(), r.get("rollout_tokens_per_second").asDouble()), 45, 2 * h + 12);
        g.dispose();
        AtomicFiles.write(png, tmp -> ImageIO.write(img, "png", tmp.toFile()));
    }

    private static void lines(Graphics2D g, int x0, int y0, int w, int h, String title, Map<String, List<Double>> series, double min, double max) {
        int left = x0 + 45, right = x0 + w - 90, top = y0 + 25, bottom = y0 + h - 30;
        g.setColor(Color.DARK_GRAY);
        g.drawString(title, left, y0 + 15);
        g.drawRect(left, top, right - left, bottom - top);
        g.drawString(String.format(Locale.ROOT, "%.1f", max), x0 + 8, top + 10);
        g.drawString(String.format(Locale.ROOT, "%.1f", min), x0 + 8, bottom);
        int n = series.values().stream().mapToInt(List::size).max().orElse(0);
        g.drawString("step 1", left, bottom + 15);
        g.drawString(Integer.toString(n), right - 20, bottom + 15);
        int k = 0;
        for (var e : series.entrySet()) {
            Color c = COLORS[k % COLORS.length];
            g.setColor(c);
            g.setStroke(new BasicStroke(1.6f));
            List<Double> v = e.getValue();
            for (int i = 1; i < v.size(); i++) {
                int xa = left + (int) ((right - left) * (i - 1) / Math.max(1.0, n - 1)), xb = left + (int) ((right - left) * i / Math.max(1.0, n - 1));
                g.drawLine(xa, y(v.get(i - 1), min, max, top, bottom), xb, y(v.get(i), min, max, top, bottom));
            }
            g.drawString(e.getKey(), right + 8, top + 12 + 14 * k);
            k++;
        }
    }

    private static int y(double v, double min, double max, int top, int bottom) {
        double c = Double.isNaN(v) ? min : Math.max(min, Math.min(max, v));
        return bottom - (int) ((bottom - top) * (c - min) / (max - min));
    }

    private static void bars(Graphics2D g, int x0, int y0, int w, int h, HeldOutEval.Result before, List<TinyDemo.Run> runs) {
        int left = x0 + 45, right = x0 + w - 20, top = y0 + 25, bottom = y0 + h - 45;
        g.setColor(Color.DARK_GRAY);
        g.drawString("held-out accuracy: base, then each GRPO run", left, y0 + 15);
        g.drawRect(left, top, right - left, bottom - top);
        g.drawString("1.0", x0 + 8, top + 10);
        g.drawString("0.0", x0 + 8, bottom);
        int n = runs.size() + 1, slot = (right - left) / n;
        for (int i = 0; i < n; i++) {
            double v = i == 0 ? before.accuracy() : runs.get(i - 1).after().accuracy();
            String label = i == 0 ? "base" : "r" + runs.get(i - 1).rank() + " s" + runs.get(i - 1).seed();
            int bx = left + i * slot + slot / 6, bw = slot * 2 / 3, by = y(v, 0, 1, top, bottom);
            g.setColor(i == 0 ? new Color(127, 127, 127) : COLORS[(i - 1) % COLORS.length]);
            g.fillRect(bx, by, bw, bottom - by);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format(Locale.ROOT, "%.2f", v), bx, by - 3);
            g.drawString(label, bx, bottom + 15);
        }
    }
}
