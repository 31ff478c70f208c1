package dev.tina.training.optim;

import dev.tina.export.AtomicOutputDirectory;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.checkpoint.SafetensorsWriter;
import dev.tina.export.checkpoint.TensorView;
import dev.tina.training.ort.GradientEngine;
import dev.tina.training.ort.GradientSession;
import dev.tina.training.graph.MicroBatch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One optimizer step over several micro-batches: gradients from ONNX Runtime (a
 * {@link GradientEngine}: one graph, {@link GradientSession}, or layer by layer), averaged over the micro-batches as transformers' Trainer does,
 * checked finite, clipped to the global norm, then AdamW at the scheduled rate. The whole state
 * (weights, moments, step) saves to and restores from a folder, bit for bit.
 */
public final class LoraTrainer {
    public record Settings(double learningRate, LrSchedule schedule, long totalSteps, long warmupSteps, double maxGradNorm,
                           double beta1, double beta2, double epsilon, double weightDecay) {
        public Settings {
            if (!(learningRate > 0)) throw new IllegalArgumentException("learning_rate must be > 0");
            if (totalSteps < 1) throw new IllegalArgumentException("max_steps must be >= 1");
            if (!(maxGradNorm > 0)) throw new IllegalArgumentException("max_grad_norm must be > 0");
        }
    }

    /** One optimizer step; {@code logps}/{@code kl} hold the trainer's per-token values of each micro-batch in order. */
    public record StepMetrics(long step, double loss, double gradNorm, double learningRate, List<float[]> logps, List<float[]> kl) {}

    private final GradientEngine gradients;
    private final Map<String, float[]> weights;
    private final Settings settings;
    private final AdamW adamw;

    public LoraTrainer(GradientEngine gradients, Map<String, float[]> initialWeights, Settings s) {
        this.gradients = gradients;
        this.settings = s;
        this.weights = new LinkedHashMap<>();
        for (String p : gradients.params()) {
            float[] w = initialWeights.get(p);
            if (w == null) throw new IllegalArgumentException("no initial weights for " + p);
            weights.put(p, w.clone());
        }
        this.adamw = new AdamW(s.beta1(), s.beta2(), s.epsilon(), s.weightDecay());
    }

    public long step() { return adamw.step(); }

    /** The current LoRA factors (live arrays: copy before handing them to another thread). */
    public Map<String, float[]> weights() { return weights; }

    public StepMetrics step(List<? extends MicroBatch> microBatches) throws Exception {
        if (microBatches.isEmpty()) throw new IllegalArgumentException("an optimizer step needs at least one micro-batch");
        List<GradientSum.Part> parts = new ArrayList<>();
        for (MicroBatch b : microBatches) parts.add(new GradientSum.Part(parts.size(), gradients.run(b, weights)));
        return apply(parts);
    }

    /**
     * The optimizer half of a step: the micro-batches' results (computed here or elsewhere with the
     * current weights) reduced in index order ({@link GradientSum}), checked finite, clipped, AdamW.
     */
    public StepMetrics apply(List<GradientSum.Part> parts) {
        long next = adamw.step() + 1;
        GradientSum.Mean mean = GradientSum.mean(parts);
        Map<String, float[]> sum = mean.gradients();
        for (String p : sum.keySet()) {
            if (!weights.containsKey(p)) throw new IllegalArgumentException("gradient of " + p + ", which is not a trained factor");
        }
        double loss = mean.loss();
        double norm = AdamW.clipGlobalNorm(sum, settings.maxGradNorm());
        if (!Double.isFinite(loss) || !Double.isFinite(norm)) {
            throw new ArithmeticException("step " + next + ": non-finite " + (!Double.isFinite(loss) ? "loss (" + loss + ")" : "gradient norm (" + norm + ")")
                    + "; the update was not applied and no checkpoint was written");
        }
        double lr = settings.schedule().lr(settings.learningRate(), adamw.step(), settings.totalSteps(), settings.warmupSteps());
        adamw.update(weights, sum, lr);
        return new StepMetrics(adamw.step(), loss, norm, lr, mean.logps(), mean.kl());
    }

    /** Writes the current LoRA factors as a PEFT adapter folder (atomically) that PEFT, the runtime and merge load. */
    public void exportAdapter(Path dir, dev.tina.export.peft.LoraConfig config, dev.tina.export.checkpoint.ModelConfig model) throws IOException {
        Map<String, float[]> copy = new LinkedHashMap<>();
        weights.forEach((k, v) -> copy.put(k, v.clone()));
        try (AtomicOutputDirectory out = new AtomicOutputDirectory(dir, true)) {
            new dev.tina.export.peft.PeftAdapter(config, copy, null).write(out.path(), model);
            out.commit();
        }
    }

    /** Writes weights, AdamW moments and step into {@code dir} atomically. */
    public void save(Path dir) throws IOException {
        try (AtomicOutputDirectory out = new AtomicOutputDirectory(dir, true)) {
            List<SafetensorsWriter.Planned> tensors = new ArrayList<>();
            for (String p : weights.keySet()) {
                tensors.add(SafetensorsWriter.Planned.f32("weight." + p, new long[]{weights.get(p).length}, weights.get(p)));
                if (adamw.expAvg().containsKey(p)) {
                    tensors.add(SafetensorsWriter.Planned.f32("exp_avg." + p, new long[]{adamw.expAvg().get(p).length}, adamw.expAvg().get(p)));
                    tensors.add(SafetensorsWriter.Planned.f32("exp_avg_sq." + p, new long[]{adamw.expAvgSq().get(p).length}, adamw.expAvgSq().get(p)));
                }
            }
            SafetensorsWriter.write(out.path().resolve("optimizer_state.safetensors"), Map.of("format", "tina"), tensors);
            ObjectNode meta = new ObjectMapper().createObjectNode();
            meta.put("step", adamw.step());
            SafetensorsWriter.writeJsonAtomically(out.path().resolve("optimizer_state.json"), meta);
            out.commit();
        }
    }

    /** Restores what {@link #save} wrote (the settings come from the caller, as on the first run). */
    public static LoraTrainer restore(GradientEngine gradients, Path dir, Settings s) throws IOException {
        JsonNode meta = new ObjectMapper().readTree(dir.resolve("optimizer_state.json").toFile());
        Map<String, float[]> w = new LinkedHashMap<>(), m = new LinkedHashMap<>(), v = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("optimizer_state.safetensors"))) {
            for (String p : gradients.params()) {
                TensorView wt = f.tensor("weight." + p);
                long want = TensorView.numel(gradients.shapes().get(p));
                if (wt.numel() != want) {
                    throw new dev.tina.export.checkpoint.CheckpointFormatException(f.path() + ": tensor 'weight." + p + "' has "
                            + wt.numel() + " values, this model and rank need " + want + " (a checkpoint of another model or rank?)");
                }
                w.put(p, wt.toFloatArray());
                TensorView mt = f.tensors().get("exp_avg." + p);
                if (mt != null) {
                    m.put(p, mt.toFloatArray());
                    v.put(p, f.tensor("exp_avg_sq." + p).toFloatArray());
                }
            }
        }
        LoraTrainer t = new LoraTrainer(gradients, w, s);
        t.adamw.restore(meta.get("step").asLong(), m, v);
        return t;
    }
}
