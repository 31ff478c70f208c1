package dev.tina.training.parity;

import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.checkpoint.TensorView;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.SessionSettings;
import dev.tina.training.graph.GrpoMicroBatch;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.ort.GradientEngine;
import dev.tina.training.layered.LayeredGradients;
import dev.tina.training.layered.MemoryBudget;
import dev.tina.training.layered.MemoryEstimate;
import dev.tina.training.layered.Recompute;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code tina parity --grpo}: one pass of the generated training graph on a reference case's
 * batch, compared with the case's per-token log-probs, GRPO loss and the gradient of every LoRA
 * factor. The case follows {@code ../shared/fixtures/README.md}: {@code completion_mask},
 * {@code advantages}, {@code old_logps}, {@code ref_logps}, {@code logps}, {@code loss},
 * {@code grad.*} in the safetensors file and temperature, beta, epsilon in the JSON beside it.
 */
public final class GrpoParity {
    public record Comparison(String name, double error, String kind, double tolerance) {
        public boolean passed() { return error <= tolerance; }

        public String line() {
            return String.format("%-90s %s=%.3e  %s (tolerance %.0e)", name, kind, error, passed() ? "OK" : "FAIL", tolerance);
        }
    }

    private GrpoParity() {}

    public static List<Comparison> run(Path exportDir, PeftAdapter adapter, Path caseFile, Path caseJson) throws Exception {
        return run(exportDir, adapter, caseFile, caseJson, SessionSettings.Device.CPU, Recompute.AUTO);
    }

    /** The gradient pass {@code recompute} runs for the case's batch ({@code auto}: its estimate against the default budget). */
    public static Recompute.Decision pass(ModelConfig config, ReferenceCase rc, SessionSettings.Device device,
                                          Recompute recompute) {
        GrpoMicroBatch b = rc.batch(1);
        MemoryEstimate e = MemoryEstimate.wholeGraph(config, b.rows(), b.length(), b.targets());
        return recompute.decide(e, MemoryBudget.DEFAULT.bytes(MemoryBudget.physicalBytes()), device);
    }

    /** The case's expected values and inputs. */
    public static ReferenceCase readCase(Path caseFile, Path caseJson) throws Exception {
        try (SafetensorsFile cs = SafetensorsFile.open(caseFile)) {
            return ReferenceCase.read(cs, caseJson);
        }
    }

    /** As above, with the gradient pass of {@code recompute} on {@code device} (CUDA's execution provider for cuda and tensorrt). */
    public static List<Comparison> run(Path exportDir, PeftAdapter adapter, Path caseFile, Path caseJson,
                                       SessionSettings.Device device, Recompute recompute) throws Exception {
        int r = adapter.config().r();
        String targets = String.join("-", adapter.config().targets().stream().map(p -> p.moduleName().replace("_proj", "")).toList());
        ModelConfig config = ModelConfig.read(exportDir.resolve("config.json"));
        var spec = new Recompute.Spec(exportDir, config, adapter.config().targets(), r, new LossHead.Grpo(), 0.0, true,
                "lora-grad-grpo-r" + r + "-" + targets);
        List<Comparison> out = new ArrayList<>();
        ReferenceCase rc = readCase(caseFile, caseJson);
        try (SafetensorsFile cs = SafetensorsFile.open(caseFile);
             GradientEngine session = pass(config, rc, device, recompute).mode().open(spec, null, false, device, LayeredGradients.Options.defaults())) {
            GrpoMicroBatch batch = rc.batch(adapter.config().scale());
            GradientEngine.Result res = session.run(batch, adapter.tensors());
            float[] logps = res.logps();
            double maxErr = 0;
            for (int i = 0; i < logps.length; i++) maxErr = Math.max(maxErr, Math.abs(logps[i] - rc.expectedLogps()[i]));
            out.add(new Comparison("logps (" + logps.length + " completion tokens)", maxErr, "max_abs_err", 1e-4));
            double want = cs.tensor("loss").getDouble(0), terms = termScale(batch, rc.expectedLogps());
            out.add(new Comparison("loss (" + String.format("%.6f vs %.6f; sum of |terms| %.4f", res.loss(), want, terms) + ")",
                    Math.abs(res.loss() - want) / Math.max(terms, 1e-30), "err/sum|terms|", 1e-4));
            for (String p : session.params()) {
                TensorView expected = cs.tensors().get(TrainingGraph.GRAD_PREFIX + p);
                if (expected == null) throw new CheckpointFormatException(caseFile + ": missing tensor '" + TrainingGraph.GRAD_PREFIX + p + "'");
                float[] got = res.gradients().get(p);
                double scale = 0, err = 0;
                for (int i = 0; i < got.length; i++) scale = Math.max(scale, Math.abs(expected.getDouble(i)));
                for (int i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - expected.getDouble(i)));
                out.add(new Comparison("grad." + p.substring(PeftAdapter.PREFIX.length()), err / Math.max(scale, 1e-30),
                        "err/max|grad|", 1e-3));
            }
        }
        return out;
    }

    /**
     * The size of the GRPO loss's terms, Σₖ wₖ (|Aₖ|·ρₖ + β·klₖ), at the expected log-probs: the
     * loss is their signed sum and can nearly cancel (at β = 0 it is a sum of ± advantage terms),
     * so its error is judged against this, not against the loss itself.
     */
    static double termScale(GrpoMicroBatch b, float[] logps) {
        float[] w = b.tokenWeights(), adv = b.advantages(), old = b.oldLogps(), ref = b.refLogps();
        double beta = b.beta(), sum = 0;
        for (int k = 0; k < w.length; k++) {
            double ratio = Math.exp(logps[k] - old[k]), d = ref[k] - logps[k];
            sum += Math.abs(w[k]) * (Math.abs(adv[k]) * ratio + beta * (Math.exp(d) - d - 1));
        }
        return sum;
    }
}
