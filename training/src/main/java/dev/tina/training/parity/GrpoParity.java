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
        if (!Files.isRegularFile(caseJson)) throw new CheckpointFormatException(caseJson + ": not found (the case's temperature, beta and epsilon)");
        JsonNode settings = new ObjectMapper().readTree(caseJson.toFile());
        for (String f : List.of("temperature", "beta", "epsilon")) {
            if (!settings.has(f)) throw new CheckpointFormatException(caseJson + ": missing field '" + f + "'");
        }
        OrtEnvironment env = TrainingNatives.requireTraining();
        int r = adapter.config().r();
        String targets = String.join("-", adapter.config().targets().stream().map(p -> p.moduleName().replace("_proj", "")).toList());
        TrainingGraph.Built built = TrainingGraph.gradientGraph(exportDir, r, adapter.config().targets(), new LossHead.Grpo(),
                "lora-grad-grpo-r" + r + "-" + targets + ".onnx");
        List<Comparison> out = new ArrayList<>();
        try (SafetensorsFile cs = SafetensorsFile.open(caseFile);
             OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
             OrtSession session = env.createSession(built.file().toString(), opts)) {
            long[] ids = cs.tensor("input_ids").toLongArray(), mask = cs.tensor("attention_mask").toLongArray(),
                    pos = cs.tensor("position_ids").toLongArray();
            long[] shape = cs.tensor("input_ids").shape();
            int batch = (int) shape[0], seq = (int) shape[1];
            TensorView completion = cs.tensor("completion_mask");
            float[] adv = cs.tensor("advantages").toFloatArray(), old = cs.tensor("old_logps").toFloatArray(),
                    ref = cs.tensor("ref_logps").toFloatArray(), expectedLogps = cs.tensor("logps").toFloatArray();
            List<Integer> k = new ArrayList<>();
            int[] count = new int[batch];
            for (int b = 0; b < batch; b++) for (int t = 0; t < seq - 1; t++) if (completion.getFloat((long) b * (seq - 1) + t) > 0) {
                k.add(b * (seq - 1) + t);
                count[b]++;
            }
            int n = k.size();
            long[] targetPos = new long[n], targetIds = new long[n];
            float[] weights = new float[n], advK = new float[n], oldK = new float[n], refK = new float[n], wantLogps = new float[n];
            for (int i = 0; i < n; i++) {
                int b = k.get(i) / (seq - 1), t = k.get(i) % (seq - 1);
                targetPos[i] = (long) b * seq + t;
                targetIds[i] = ids[b * seq + t + 1];
                weights[i] = 1f / (batch * count[b]); // TRL "grpo": per-sequence token mean, then batch mean
                advK[i] = adv[b];
                oldK[i] = old[k.get(i)];
                refK[i] = ref[k.get(i)];
                wantLogps[i] = expectedLogps[k.get(i)];
            }
            Map<String, OnnxTensor> feed = new LinkedHashMap<>();
            try {
                feed.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape));
                feed.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape));
                feed.put("position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(pos), shape));
                feed.put("lora_scale", scalar(env, (float) adapter.config().scale()));
                for (String p : built.params()) {
                    long[] s = p.endsWith("lora_A.weight") ? new long[]{r, adapter.tensors().get(p).length / r}
                            : new long[]{adapter.tensors().get(p).length / r, r};
                    feed.put(p, OnnxTensor.createTensor(env, FloatBuffer.wrap(adapter.tensors().get(p)), s));
                }
                feed.put("target_positions", OnnxTensor.createTensor(env, LongBuffer.wrap(targetPos), new long[]{n}));
                feed.put("target_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(targetIds), new long[]{n}));
                feed.put("token_weights", vector(env, weights));
                feed.put("temperature", scalar(env, (float) settings.get("temperature").asDouble()));
                feed.put("advantages", vector(env, advK));
                feed.put("old_logps", vector(env, oldK));
                feed.put("ref_logps", vector(env, refK));
                feed.put("beta", scalar(env, (float) settings.get("beta").asDouble()));
                feed.put("epsilon_low", scalar(env, (float) settings.get("epsilon").asDouble()));
                feed.put("epsilon_high", scalar(env, (float) settings.get("epsilon").asDouble()));
                try (OrtSession.Result res = session.run(feed)) {
                    float[] logps = floats(res, LossHead.LOGPS);
                    double maxErr = 0;
                    for (int i = 0; i < n; i++) maxErr = Math.max(maxErr, Math.abs(logps[i] - wantLogps[i]));
                    out.add(new Comparison("logps (" + n + " completion tokens)", maxErr, "max_abs_err", 1e-4));
                    double loss = floats(res, LossHead.LOSS)[0], want = cs.tensor("loss").getDouble(0);
                    out.add(new Comparison("loss (" + String.format("%.6f vs %.6f", loss, want) + ")",
                            Math.abs(loss - want) / Math.max(1e-12, Math.abs(want)), "rel_err", 1e-4));
                    for (String p : built.params()) {
                        TensorView expected = cs.tensors().get(TrainingGraph.GRAD_PREFIX + p);
                        if (expected == null) throw new CheckpointFormatException(caseFile + ": missing tensor '" + TrainingGraph.GRAD_PREFIX + p + "'");
                        float[] got = floats(res, TrainingGraph.GRAD_PREFIX + p);
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

    private static OnnxTensor scalar(OrtEnvironment env, float v) throws Exception {
        return OnnxTensor.createTensor(env, FloatBuffer.wrap(new float[]{v}), new long[]{1});
    }

    private static OnnxTensor vector(OrtEnvironment env, float[] v) throws Exception {
        return OnnxTensor.createTensor(env, FloatBuffer.wrap(v), new long[]{v.length});
    }

    private static float[] floats(OrtSession.Result res, String name) {
        FloatBuffer b = ((OnnxTensor) res.get(name).orElseThrow()).getFloatBuffer();
        float[] a = new float[b.remaining()];
        b.get(a);
        return a;
    }
}
