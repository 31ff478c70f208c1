package dev.tina.training.parity;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.checkpoint.TensorView;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.ort.OrtValues;
import dev.tina.training.ort.TrainingNatives;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
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
        OrtEnvironment env = TrainingNatives.requireTraining();
        int r = adapter.config().r();
        String targets = String.join("-", adapter.config().targets().stream().map(p -> p.moduleName().replace("_proj", "")).toList());
        TrainingGraph.Built built = TrainingGraph.gradientGraph(exportDir, r, adapter.config().targets(), new LossHead.Grpo(),
                "lora-grad-grpo-r" + r + "-" + targets + ".onnx");
        List<Comparison> out = new ArrayList<>();
        try (SafetensorsFile cs = SafetensorsFile.open(caseFile);
             OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
             OrtSession session = env.createSession(built.file().toString(), opts)) {
            ReferenceCase rc = ReferenceCase.read(cs, caseJson);
            var values = rc.batch(adapter.config().scale()).values();
            Map<String, OnnxTensor> feed = OrtValues.tensors(env, values, values.keySet());
            try {
                for (String p : built.params()) {
                    float[] v = adapter.tensors().get(p);
                    long[] s = p.endsWith("lora_A.weight") ? new long[]{r, v.length / r} : new long[]{v.length / r, r};
                    feed.put(p, OnnxTensor.createTensor(env, FloatBuffer.wrap(v), s));
                }
                try (OrtSession.Result res = session.run(feed)) {
                    float[] logps = OrtValues.floats(res, LossHead.LOGPS);
                    double maxErr = 0;
                    for (int i = 0; i < logps.length; i++) maxErr = Math.max(maxErr, Math.abs(logps[i] - rc.expectedLogps()[i]));
                    out.add(new Comparison("logps (" + logps.length + " completion tokens)", maxErr, "max_abs_err", 1e-4));
                    double loss = OrtValues.floats(res, LossHead.LOSS)[0], want = cs.tensor("loss").getDouble(0);
                    out.add(new Comparison("loss (" + String.format("%.6f vs %.6f", loss, want) + ")",
                            Math.abs(loss - want) / Math.max(1e-12, Math.abs(want)), "rel_err", 1e-4));
                    for (String p : built.params()) {
                        TensorView expected = cs.tensors().get(TrainingGraph.GRAD_PREFIX + p);
                        if (expected == null) throw new CheckpointFormatException(caseFile + ": missing tensor '" + TrainingGraph.GRAD_PREFIX + p + "'");
                        float[] got = OrtValues.floats(res, TrainingGraph.GRAD_PREFIX + p);
                        double scale = 0, err = 0;
                        for (int i = 0; i < got.length; i++) scale = Math.max(scale, Math.abs(expected.getDouble(i)));
                        for (int i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - expected.getDouble(i)));
                        out.add(new Comparison("grad." + p.substring(PeftAdapter.PREFIX.length()), err / Math.max(scale, 1e-30),
                                "err/max|grad|", 1e-3));
                    }
                }
            } finally {
                feed.values().forEach(OnnxTensor::close);
            }
        }
        return out;
    }

}
