package dev.tina.training.ort;

import dev.tina.testsupport.Shared;

import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.training.graph.LossHead;
import dev.tina.training.parity.ReferenceCase;
import dev.tina.export.checkpoint.SafetensorsFile;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ONNX Runtime's training session over the generated artifacts, on the GRPO reference case. */
class LoraTrainingSessionTest {
    static { TrainingNatives.install(); }
    static final Path FIXTURE = Shared.path("fixtures/qwen2-small");
    @TempDir static Path tmp;
    static Path export;
    static TrainingArtifacts.Files files;
    static PeftAdapter adapter;
    static ReferenceCase rc;
    static double wantLoss;

    @BeforeAll
    static void setUp() throws Exception {
        export = tmp.resolve("export");
        DecoderExporter.export(FIXTURE.resolve("model"), export, DecoderExporter.Options.defaults());
        ModelConfig c = ModelConfig.read(FIXTURE.resolve("model/config.json"));
        adapter = PeftAdapter.read(FIXTURE.resolve("adapter"), c);
        files = TrainingArtifacts.write(export, "lora-test", adapter.config().r(), adapter.config().targets(), new LossHead.Grpo(),
                new TrainingArtifacts.Optimizer(0.9, 0.999, 1e-8, 0.0));
        try (SafetensorsFile cs = SafetensorsFile.open(FIXTURE.resolve("case.safetensors"))) {
            rc = ReferenceCase.read(cs, FIXTURE.resolve("case.json"));
            wantLoss = cs.tensor("loss").getDouble(0);
        }
    }

    static Path initialCheckpoint(String name) throws Exception {
        Map<String, CheckpointWriter.Param> params = new LinkedHashMap<>();
        int r = adapter.config().r();
        for (String p : files.params()) {
            float[] v = adapter.tensors().get(p);
            long[] shape = p.endsWith("lora_A.weight") ? new long[]{r, v.length / r} : new long[]{v.length / r, r};
            params.put(p, new CheckpointWriter.Param(shape, v));
        }
        Path ckpt = tmp.resolve(name);
        CheckpointWriter.write(ckpt, params);
        return ckpt;
    }

    static String sha(Path f) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
    }

    @Test
    void trainStepGivesTheReferenceLossAndOnlyAdapterTensorsChange() throws Exception {
        String dataBefore = sha(export.resolve(DecoderExporter.DATA_FILE));
        try (LoraTrainingSession s = LoraTrainingSession.open(files, initialCheckpoint("a.ckpt"))) {
            Map<String, float[]> before = s.weights();
            assertArrayEquals(adapter.tensors().get(files.params().getFirst()), before.get(files.params().getFirst()));
            LoraTrainingSession.StepOutput out = s.trainStep(rc.batch(adapter.config().scale()));
            assertEquals(wantLoss, out.loss(), 1e-4 * Math.abs(wantLoss));
            s.optimizerStep(1e-3);
            Map<String, float[]> after = s.weights();
            int changed = 0;
            for (String p : files.params()) if (!java.util.Arrays.equals(before.get(p), after.get(p))) changed++;
            assertEquals(files.params().size(), changed, "every LoRA factor moves");
            // AdamW's first step moves each weight by at most lr (|m̂/√v̂| <= 1)
            for (String p : files.params()) {
                for (int i = 0; i < after.get(p).length; i++) assertTrue(Math.abs(after.get(p)[i] - before.get(p)[i]) <= 1e-3 + 1e-7);
            }
        }
        assertEquals(dataBefore, sha(export.resolve(DecoderExporter.DATA_FILE)), "base weights untouched");
    }

    @Test
    void repeatedStepsOnOneBatchLowerTheLoss() throws Exception {
        try (LoraTrainingSession s = LoraTrainingSession.open(files, initialCheckpoint("b.ckpt"))) {
            double first = s.trainStep(rc.batch(adapter.config().scale())).loss();
            s.optimizerStep(5e-3);
            double last = first;
            for (int i = 0; i < 15; i++) {
                last = s.trainStep(rc.batch(adapter.config().scale())).loss();
                s.optimizerStep(5e-3);
            }
            assertTrue(last < first - 0.05, "loss " + first + " -> " + last);
        }
    }

    @Test
    void resumingFromASavedStateGivesBitIdenticalNextSteps() throws Exception {
        Path saved = tmp.resolve("saved.ckpt");
        double[] continued = new double[3];
        Map<String, float[]> continuedWeights;
        try (LoraTrainingSession s = LoraTrainingSession.open(files, initialCheckpoint("c.ckpt"))) {
            s.trainStep(rc.batch(adapter.config().scale()));
            s.optimizerStep(2e-3);
            s.save(saved, Map.of("step", 1L), Map.of("note", "resume test"));
            for (int i = 0; i < 3; i++) {
                continued[i] = s.trainStep(rc.batch(adapter.config().scale())).loss();
                s.optimizerStep(2e-3);
            }
            continuedWeights = s.weights();
        }
        try (LoraTrainingSession r = LoraTrainingSession.open(files, saved)) {
            assertEquals(1, r.intProperty("step"));
            assertEquals("resume test", r.stringProperty("note"));
            for (int i = 0; i < 3; i++) {
                double loss = r.trainStep(rc.batch(adapter.config().scale())).loss();
                r.optimizerStep(2e-3);
                assertEquals(continued[i], loss, 0.0, "step " + (i + 2) + " after resume");
            }
            Map<String, float[]> w = r.weights();
            for (String p : files.params()) assertArrayEquals(continuedWeights.get(p), w.get(p), p);
        }
        assertFalse(Files.exists(tmp.resolve("saved.ckpt.tmp")));
    }
}
