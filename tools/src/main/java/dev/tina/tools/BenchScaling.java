package dev.tina.tools;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.AtomicFiles;
import dev.tina.export.checkpoint.SafetensorsWriter;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.training.optim.AdamW;
import dev.tina.training.tiny.ArithmeticTask;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code tina bench scaling}: a simulated scaling study of GRPO steps spread over 1–64 executors
 * (one device each), since this project has one machine. Step time = adapter broadcast + the
 * slowest slice (sampling, whose decode steps run until the slice's longest completion ends, then
 * reference and gradient passes per token) + task scheduling + gradient return into the driver +
 * AdamW on the driver. Per-phase costs are inputs (defaults: this machine's measured 1.5B-shape
 * numbers, README); the completion-length distribution and AdamW's time are measured here. Every
 * assumption is an option and is written into the report.
 */
@Command(name = "scaling", mixinStandardHelpOptions = true,
        description = "Simulated step time of a GRPO recipe over 1-64 Spark executors from per-phase costs (README, Spark: scaling study).")
final class BenchScaling implements Callable<Integer> {
    @Option(names = "--length-model", defaultValue = "onnx-models/tiny-reasoner", description = "model whose completion lengths (as fractions of the cap) stand in for the real run's; default ${DEFAULT-VALUE}")
    Path lengthModel;
    @Option(names = "--prompts", defaultValue = "8", description = "prompts per optimizer step; default ${DEFAULT-VALUE} (Open-RS2: 12 × 4 / 6)") int prompts;
    @Option(names = "--generations", defaultValue = "6", description = "completions per prompt; default ${DEFAULT-VALUE}") int generations;
    @Option(names = "--micro-batch", defaultValue = "12", description = "completions per micro-batch; default ${DEFAULT-VALUE}") int microBatch;
    @Option(names = "--prompt-tokens", defaultValue = "200", description = "mean prompt length; default ${DEFAULT-VALUE}") int promptTokens;
    @Option(names = "--max-completion", defaultValue = "3584", description = "max_completion_length; default ${DEFAULT-VALUE}") int maxCompletion;
    @Option(names = "--decode-step-seconds", defaultValue = "0.305", description = "one decode step of a wave of up to 16 rows; default ${DEFAULT-VALUE} (1.5B shape, CPU, batch 16: 52.4 tokens/s)") double decodeStep;
    @Option(names = "--reference-seconds-per-token", defaultValue = "0.00776", description = "default ${DEFAULT-VALUE} (1.5B Open-RS2 step: 14.9 s over 48 × 40 tokens)") double refPerToken;
    @Option(names = "--gradient-seconds-per-token", defaultValue = "0.0343", description = "default ${DEFAULT-VALUE} (1.5B Open-RS2 step: 65.9 s over 48 × 40 tokens)") double gradPerToken;
    @Option(names = "--adapter-params", defaultValue = "36929536", description = "LoRA factors (1.5B, r = 32, seven projections); default ${DEFAULT-VALUE}") long adapterParams;
    @Option(names = "--link-gbps", defaultValue = "10", description = "network link per machine, Gbit/s; default ${DEFAULT-VALUE}") double linkGbps;
    @Option(names = "--task-overhead-seconds", defaultValue = "0.05", description = "scheduling per task wave (measure with tina bench spark); default ${DEFAULT-VALUE}") double taskOverhead;
    @Option(names = "--trials", defaultValue = "400", description = "simulated steps per executor count; default ${DEFAULT-VALUE}") int trials;
    @Option(names = "--out", defaultValue = "out/bench-scaling", description = "report.json, scaling.csv, scaling.png; default ${DEFAULT-VALUE}") Path out;

    private static final ObjectMapper JSON = new ObjectMapper();
    static final int[] EXECUTORS = {1, 2, 4, 8, 16, 32, 64};

    @Override
    public Integer call() throws Exception {
        Files.createDirectories(out);
        double[] fractions = completionFractions();
        double adamSeconds = adamSeconds();
        double adapterBytes = 4.0 * adapterParams, bytesPerSecond = linkGbps * 1e9 / 8;
        int completions = prompts * generations, unit = lcm(generations, microBatch), units = completions / unit;
        if (completions % unit != 0) throw new IllegalArgumentException(completions + " completions do not split into units of " + unit);
        ObjectNode report = JSON.createObjectNode();
        ObjectNode assumptions = report.putObject("assumptions");
        assumptions.put("executors", "one device each; a step's slices are whole lcm(micro-batch, generations) units, so at most " + units + " executors share a fixed step");
        assumptions.put("sampling", "one wave per slice: decode steps until its longest completion ends × decode-step-seconds (the wave's rows do not change the step time)");
        assumptions.put("reference_and_gradients", "per token of prompt + completion, as measured at 1.5B on this machine");
        assumptions.put("completion_lengths", "fractions of the cap measured from " + lengthModel + " (" + fractions.length + " completions, mean "
                + String.format(Locale.ROOT, "%.3f", Arrays.stream(fractions).average().orElse(0)) + ") scaled to " + maxCompletion + " tokens");
        assumptions.put("broadcast", "torrent broadcast of the fp32 adapter: ⌈log2(E + 1)⌉ link transfers");
        assumptions.put("gradient_return", "each micro-batch's fp32 gradients into the driver's one link");
        assumptions.put("driver", "AdamW on the driver, measured here: " + String.format(Locale.ROOT, "%.3f s", adamSeconds));
        assumptions.put("network_gbps", linkGbps);
        assumptions.put("task_overhead_seconds", taskOverhead);
        ArrayNode rows = report.putArray("rows");
        StringBuilder csv = new StringBuilder("executors,strong_step_seconds,strong_speedup,weak_step_seconds,weak_efficiency,broadcast_seconds,gradient_return_seconds\n");
        SplittableRandom rng = new SplittableRandom(20261204);
        double strong1 = 0, weak1 = 0;
        Map<String, double[]> plot = new LinkedHashMap<>();
        double[] strongSpeedup = new double[EXECUTORS.length], weakEfficiency = new double[EXECUTORS.length];
        for (int i = 0; i < EXECUTORS.length; i++) {
            int e = EXECUTORS[i];
            double broadcast = Math.ceil(Math.log(e + 1) / Math.log(2)) * adapterBytes / bytesPerSecond;
            // strong scaling: the recipe's step (fixed completions) over min(E, units) slices
            int slices = Math.min(e, units);
            double strong = 0, weak = 0, ret = 0;
            for (int t = 0; t < trials; t++) {
                strong += stepSeconds(rng, fractions, completions, slices, broadcast, adamSeconds, bytesPerSecond, adapterBytes);
                // weak scaling: every executor gets the recipe's whole step (E × the completions per step)
                weak += stepSeconds(rng, fractions, completions * e, e, broadcast, adamSeconds, bytesPerSecond, adapterBytes);
            }
            strong /= trials;
            weak /= trials;
            ret = (double) completions / microBatch * adapterBytes / bytesPerSecond;
            if (e == 1) {
                strong1 = strong;
                weak1 = weak;
            }
            strongSpeedup[i] = strong1 / strong;
            weakEfficiency[i] = weak1 / weak; // the same work per executor: 1.0 is perfect
            ObjectNode row = rows.addObject();
            row.put("executors", e);
            row.put("strong_step_seconds", strong);
            row.put("strong_speedup", strongSpeedup[i]);
            row.put("weak_step_seconds", weak);
            row.put("weak_efficiency", weakEfficiency[i]);
            row.put("broadcast_seconds", broadcast);
            row.put("gradient_return_seconds_strong", ret);
            csv.append(String.format(Locale.ROOT, "%d,%.2f,%.3f,%.2f,%.3f,%.3f,%.3f%n", e, strong, strongSpeedup[i], weak, weakEfficiency[i], broadcast, ret));
        }
        plot.put("speed-up, fixed step of " + completions + " completions (max " + units + " slices)", strongSpeedup);
        plot.put("efficiency, " + completions + " completions per executor", weakEfficiency);
        SafetensorsWriter.writeJsonAtomically(out.resolve("report.json"), report);
        AtomicFiles.write(out.resolve("scaling.csv"), tmp -> Files.writeString(tmp, csv));
        plot(out.resolve("scaling.png"), plot);
        System.out.print(csv);
        System.out.println("report: " + out.resolve("report.json") + ", plot: " + out.resolve("scaling.png"));
        return 0;
    }

    /**
     * One simulated step: completions drawn, dealt to slices in order (whole units), each slice's
     * time = its longest completion's decode steps + reference and gradients over its tokens.
     */
    private double stepSeconds(SplittableRandom rng, double[] fractions, int completions, int slices, double broadcast, double adam,
                               double bytesPerSecond, double adapterBytes) {
        double slowest = 0;
        int perSlice = (completions + slices - 1) / slices;
        for (int s = 0; s < slices; s++) {
            int n = Math.min(perSlice, completions - s * perSlice);
            if (n <= 0) break;
            int longest = 0;
            long tokens = 0;
            for (int c = 0; c < n; c++) {
                int len = (int) Math.ceil(fractions[rng.nextInt(fractions.length)] * maxCompletion);
                longest = Math.max(longest, len);
                tokens += promptTokens + len;
            }
            double t = longest * decodeStep * Math.ceil(n / 16.0) + tokens * (refPerToken + gradPerToken);
            slowest = Math.max(slowest, t);
        }
        double gradientReturn = (double) completions / microBatch * adapterBytes / bytesPerSecond;
        return broadcast + slowest + taskOverhead + gradientReturn + adam;
    }

    /** Completion lengths over the cap from the length model: the demo's prompts, T = 0.7, 8 samples each. */
    private double[] completionFractions() throws Exception {
        int cap = 72;
        try (LoadedModel m = LoadedModel.open(lengthModel, SessionSettings.of(SessionSettings.Device.CPU));
             BatchSampler sampler = m.sampler(64);
             AdapterBinding none = m.adapter(null)) {
            List<long[]> ids = new ArrayList<>();
            for (ArithmeticTask.Problem p : ArithmeticTask.problems(77, 16, ArithmeticTask.HARD, Set.of())) ids.add(m.encodePrompt(p.question(), true, null));
            List<Completion> cs = sampler.generate(ids, new SamplingParams(8, 0.7, 1.0, 0, 0, cap, List.of(), Set.copyOf(m.defaults().eosTokenIds()), 1), none);
            return cs.stream().mapToDouble(c -> Math.max(1, c.tokenIds().length) / (double) cap).toArray();
        }
    }

    /** One AdamW update of an adapter of --adapter-params floats, in Java (what the driver does per step). */
    private double adamSeconds() {
        int chunk = 1 << 22, n = (int) ((adapterParams + chunk - 1) / chunk);
        Map<String, float[]> w = new LinkedHashMap<>(), g = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            int len = (int) Math.min(chunk, adapterParams - (long) i * chunk);
            float[] a = new float[len], b = new float[len];
            Arrays.fill(b, 1e-3f);
            w.put("p" + i, a);
            g.put("p" + i, b);
        }
        AdamW adam = new AdamW(0.9, 0.999, 1e-8, 0);
        adam.update(w, g, 1e-6); // warm-up
        long t0 = System.nanoTime();
        for (int k = 0; k < 3; k++) {
            AdamW.clipGlobalNorm(g, 1.0);
            adam.update(w, g, 1e-6);
        }
        return (System.nanoTime() - t0) / 3e9;
    }

    static int lcm(int a, int b) {
        int x = a, y = b;
        while (y != 0) { int t = x % y; x = y; y = t; }
        return a / x * b;
    }

    /** Minimal log2-x line chart (one panel per series); the project's charting may replace it. */
    private static void plot(Path png, Map<String, double[]> series) throws Exception {
        int w = 520, h = 260;
        BufferedImage img = new BufferedImage(w, h * series.size(), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int p = 0;
        for (var e : series.entrySet()) {
            int y0 = p++ * h, left = 50, right = w - 20, top = y0 + 30, bottom = y0 + h - 35;
            double[] v = e.getValue();
            double max = Math.max(1.0, Arrays.stream(v).max().orElse(1));
            g.setColor(Color.DARK_GRAY);
            g.drawString(e.getKey(), left, y0 + 18);
            g.drawRect(left, top, right - left, bottom - top);
            g.drawString(String.format(Locale.ROOT, "%.2g", max), 5, top + 10);
            g.drawString("0", 30, bottom);
            for (int i = 0; i < EXECUTORS.length; i++) {
                int x = left + (right - left) * i / (EXECUTORS.length - 1);
                g.drawString(Integer.toString(EXECUTORS[i]), x - 6, bottom + 15);
            }
            g.drawString("executors", (left + right) / 2 - 25, bottom + 30);
            g.setColor(new Color(31, 119, 180));
            g.setStroke(new BasicStroke(2f));
            for (int i = 1; i < v.length; i++) {
                int xa = left + (right - left) * (i - 1) / (EXECUTORS.length - 1), xb = left + (right - left) * i / (EXECUTORS.length - 1);
                g.drawLine(xa, bottom - (int) ((bottom - top) * v[i - 1] / max), xb, bottom - (int) ((bottom - top) * v[i] / max));
            }
        }
        g.dispose();
        AtomicFiles.write(png, tmp -> ImageIO.write(img, "png", tmp.toFile()));
    }
}
