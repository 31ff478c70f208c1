package dev.tina.training.graph;

import dev.tina.testsupport.Shared;

import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.HfCheckpoint;
import dev.tina.export.checkpoint.DType;
import dev.tina.training.optim.LoraTrainer;
import dev.tina.training.optim.LrSchedule;
import dev.tina.training.ort.GradientEngine;
import dev.tina.training.ort.GradientSession;
import dev.tina.training.ort.TrainingNatives;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Full-parameter SFT (every base weight trainable), as the tiny model's pre-training needs. */
class FullParameterSftTest {
    static { TrainingNatives.install(); }
    static final Path FIXTURE = Shared.path("fixtures/qwen2-small");

    static SftMicroBatch batch() {
        int b = 2, s = 8;
        long[] ids = {5, 17, 33, 2, 9, 41, 7, 12, 3, 3, 60, 61, 62, 63, 64, 65};
        long[] mask = new long[b * s], pos = new long[b * s];
        for (int i = 0; i < b * s; i++) { mask[i] = 1; pos[i] = i % s; }
        long[] tp = new long[b * (s - 1)], ti = new long[tp.length];
        float[] w = new float[tp.length];
        for (int r = 0, k = 0; r < b; r++) for (int t = 0; t < s - 1; t++, k++) { tp[k] = (long) r * s + t; ti[k] = ids[r * s + t + 1]; w[k] = 1f / tp.length; }
        return new SftMicroBatch(b, s, ids, mask, pos, tp, ti, w, 1f, 1f, null);
    }

    @Test
    void gradientsOfEveryWeightMatchFiniteDifferencesAndTrainingLowersTheLoss(@TempDir Path tmp) throws Exception {
        Path export = tmp.resolve("export");
        DecoderExporter.export(FIXTURE.resolve("model"), export, new DecoderExporter.Options(DType.F32, List.of(), false));
        Map<String, long[]> shapes = new LinkedHashMap<>();
        var graph = TrainingGraph.fullGradientGraph(export, new LossHead.Sft(), "full-sft.onnx", shapes);
        Map<String, float[]> weights = new LinkedHashMap<>();
        try (HfCheckpoint ckpt = HfCheckpoint.open(FIXTURE.resolve("model"))) {
            for (String p : graph.params()) weights.put(p, ckpt.tensors().get(p).toFloatArray());
        }
        assertEquals(1 + 2 * (2 + 7 + 3) + 1 + 1, graph.params().size(), "embeddings, per layer norms/projections/q-k-v biases, final norm, head");
        try (GradientSession s = new GradientSession(graph, shapes)) {
            GradientEngine.Result r = s.run(batch(), weights);
            for (String p : List.of("model.embed_tokens.weight", "model.layers.0.input_layernorm.weight",
                    "model.layers.1.self_attn.k_proj.bias", "model.layers.0.mlp.down_proj.weight", "lm_head.weight", "model.norm.weight")) {
                float[] w = weights.get(p), g = r.gradients().get(p);
                int best = 0;
                for (int i = 0; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[best])) best = i;
                for (int i : new int[]{best, g.length / 2}) {
                    float orig = w[i];
                    double h = 1e-2 * Math.max(0.1, Math.abs(orig));
                    w[i] = (float) (orig + h);
                    double up = s.run(batch(), weights).loss();
                    w[i] = (float) (orig - h);
                    double down = s.run(batch(), weights).loss();
                    w[i] = orig;
                    double numeric = (up - down) / (2 * h);
                    assertEquals(numeric, g[i], 2e-2 * Math.abs(g[best]) + 1e-4, p + "[" + i + "]");
                }
            }
            var settings = new LoraTrainer.Settings(1e-2, new LrSchedule.Constant(), 30, 0, 1.0, 0.9, 0.999, 1e-8, 0.0);
            LoraTrainer t = new LoraTrainer(s, weights, settings);
            double first = t.step(List.of(batch())).loss(), last = first;
            for (int i = 0; i < 20; i++) last = t.step(List.of(batch())).loss();
            assertTrue(last < first * 0.5, "SFT loss " + first + " -> " + last);
        }
    }
}
