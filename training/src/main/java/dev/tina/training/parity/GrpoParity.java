package dev.tina.training.parity;

import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.checkpoint.TensorView;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.ort.GradientSession;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
        return run(exportDir, adapter, caseFile, caseJson, dev.tina.runtime.SessionSettings.Device.CPU);
    }

    /** As above, with the gradient graph on {@code device} (CUDA's execution provider for cuda and tensorrt). */
    public static List<Comparison> run(Path exportDir, PeftAdapter adapter, Path caseFile, Path caseJson,
                                       dev.tina.runtime.SessionSettings.Device device) throws Exception {
        int r = adapter.config().r();
        String targets = String.join("-", adapter.config().targets().stream().map(p -> p.moduleName().replace("_proj", "")).toList());
        TrainingGraph.Built built = TrainingGraph.gradientGraph(exportDir, r, adapter.config().targets(), new LossHead.Grpo(),
                "lora-grad-grpo-r" + r + "-" + targets + ".onnx");
        ModelConfig config = ModelConfig.read(exportDir.resolve("config.json"));
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String p : built.params()) shapes.put(p, TrainingGraph.paramShape(config, p, r));
        List<Comparison> out = new ArrayList<>();
        try (SafetensorsFile cs = SafetensorsFile.open(caseFile);
             GradientSession session = new GradientSession(built, shapes, false, null, device)) {
            ReferenceCase rc = ReferenceCase.read(cs, caseJson);
            GradientSession.Result res = session.run(rc.batch(adapter.config().scale()), adapter.tensors());
            float[] logps = res.logps();
            double maxErr = 0;
            for (int i = 0; i < logps.length; i++) maxErr = Math.max(maxErr, Math.abs(logps[i] - rc.expectedLogps()[i]));
            out.add(new Comparison("logps (" + logps.length + " completion tokens)", maxErr, "max_abs_err", 1e-4));
            double want = cs.tensor("loss").getDouble(0);
            out.add(new Comparison("loss (" + String.format("%.6f vs %.6f", res.loss(), want) + ")",
                    Math.abs(res.loss() - want) / Math.max(1e-12, Math.abs(want)), "rel_err", 1e-4));
            for (String p : built.params()) {
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
}
