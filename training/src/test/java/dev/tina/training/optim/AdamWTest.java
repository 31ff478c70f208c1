package dev.tina.training.optim;

import dev.tina.testsupport.Shared;

import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.ort.CheckpointWriter;
import dev.tina.training.ort.GradientEngine;
import dev.tina.training.ort.GradientSession;
import dev.tina.training.ort.LoraTrainingSession;
import dev.tina.training.ort.TrainingArtifacts;
import dev.tina.training.ort.TrainingNatives;
import dev.tina.training.parity.ReferenceCase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AdamWTest {
    static { TrainingNatives.install(); }
    static final Path FIXTURE = Shared.path("fixtures/qwen2-small");

    @Test
    void javaAdamWMatchesOnnxRuntimesAdamWOptimizerOverThreeSteps(@TempDir Path tmp) throws Exception {
        Path export = tmp.resolve("export");
        DecoderExporter.export(FIXTURE.resolve("model"), export, DecoderExporter.Options.defaults());
        ModelConfig c = ModelConfig.read(FIXTURE.resolve("model/config.json"));
        PeftAdapter adapter = PeftAdapter.read(FIXTURE.resolve("adapter"), c);
        int r = adapter.config().r();
        ReferenceCase rc;
        try (SafetensorsFile cs = SafetensorsFile.open(FIXTURE.resolve("case.safetensors"))) {
            rc = ReferenceCase.read(cs, FIXTURE.resolve("case.json"));
        }
        var files = TrainingArtifacts.write(export, "adamw", r, adapter.config().targets(), new LossHead.Grpo(),
                new TrainingArtifacts.Optimizer(0.9, 0.999, 1e-8, 0.01));
        var grad = TrainingGraph.gradientGraph(export, r, adapter.config().targets(), new LossHead.Grpo(), "adamw-grad.onnx");
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, CheckpointWriter.Param> init = new LinkedHashMap<>();
        Map<String, float[]> javaWeights = new LinkedHashMap<>();
        for (String p : files.params()) {
            float[] v = adapter.tensors().get(p);
            long[] s = p.endsWith("lora_A.weight") ? new long[]{r, v.length / r} : new long[]{v.length / r, r};
            shapes.put(p, s);
            init.put(p, new CheckpointWriter.Param(s, v));
            javaWeights.put(p, v.clone());
        }
        Path ckpt = tmp.resolve("init.ckpt");
        CheckpointWriter.write(ckpt, init);
        AdamW adamw = new AdamW(0.9, 0.999, 1e-8, 0.01);
        double lr = 3e-3;
        try (LoraTrainingSession ort = LoraTrainingSession.open(files, ckpt);
             GradientSession grads = new GradientSession(grad, shapes)) {
            for (int step = 0; step < 3; step++) {
                double ortLoss = ort.trainStep(rc.batch(adapter.config().scale())).loss();
                ort.optimizerStep(lr);
                GradientEngine.Result g = grads.run(rc.batch(adapter.config().scale()), javaWeights);
                assertEquals(ortLoss, g.loss(), 1e-4 * Math.abs(ortLoss), "loss at step " + step);
                adamw.update(javaWeights, g.gradients(), lr);
                Map<String, float[]> ortWeights = ort.weights();
                double worst = 0;
                for (String p : files.params()) {
                    for (int i = 0; i < javaWeights.get(p).length; i++) {
                        worst = Math.max(worst, Math.abs(javaWeights.get(p)[i] - ortWeights.get(p)[i]));
                    }
                }
                System.out.println("step " + step + ": Java vs ORT AdamW max |dw| = " + worst);
                assertTrue(worst < 1e-6, "step " + step + ": Java vs ORT AdamW max difference " + worst);
            }
        }
    }

    @Test
    void clippingScalesToTheGlobalNorm() {
        Map<String, float[]> g = new LinkedHashMap<>();
        g.put("a", new float[]{3f, 0f});
        g.put("b", new float[]{0f, 4f});
        assertEquals(5.0, AdamW.clipGlobalNorm(g, 1.0), 1e-9);
        assertEquals(0.6f, g.get("a")[0], 1e-6f);
        assertEquals(0.8f, g.get("b")[1], 1e-6f);
        assertEquals(1.0, AdamW.clipGlobalNorm(g, 10.0), 1e-6); // below the limit: unchanged
        assertEquals(0.6f, g.get("a")[0], 1e-6f);
    }
}
