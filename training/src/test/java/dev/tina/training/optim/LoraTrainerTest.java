package dev.tina.training.optim;

import dev.tina.training.graph.GrpoMicroBatch;
import dev.tina.testsupport.Shared;

import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.ort.GradientSession;
import dev.tina.training.ort.TrainingNatives;
import dev.tina.training.parity.ReferenceCase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoraTrainerTest {
    static { TrainingNatives.install(); }
    static final Path FIXTURE = Shared.path("fixtures/qwen2-small");
    @TempDir static Path tmp;
    static GradientSession grads;
    static PeftAdapter adapter;
    static ReferenceCase rc;
    static final LoraTrainer.Settings SETTINGS = new LoraTrainer.Settings(5e-3, new LrSchedule.Cosine(0.1), 10, 2, 1.0, 0.9, 0.999, 1e-8, 0.0);

    @BeforeAll
    static void setUp() throws Exception {
        Path export = tmp.resolve("export");
        DecoderExporter.export(FIXTURE.resolve("model"), export, DecoderExporter.Options.defaults());
        adapter = PeftAdapter.read(FIXTURE.resolve("adapter"), ModelConfig.read(FIXTURE.resolve("model/config.json")));
        int r = adapter.config().r();
        var built = TrainingGraph.gradientGraph(export, r, adapter.config().targets(), new LossHead.Grpo(), "trainer-grad.onnx");
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String p : built.params()) {
            int n = adapter.tensors().get(p).length;
            shapes.put(p, p.endsWith("lora_A.weight") ? new long[]{r, n / r} : new long[]{n / r, r});
        }
        grads = new GradientSession(built, shapes);
        try (SafetensorsFile cs = SafetensorsFile.open(FIXTURE.resolve("case.safetensors"))) {
            rc = ReferenceCase.read(cs, FIXTURE.resolve("case.json"));
        }
    }

    @AfterAll
    static void tearDown() throws Exception { grads.close(); }

    GrpoMicroBatch batch() { return rc.batch(adapter.config().scale()); }

    @Test
    void savedStateResumesBitForBit() throws Exception {
        LoraTrainer a = new LoraTrainer(grads, adapter.tensors(), SETTINGS);
        a.step(List.of(batch()));
        a.step(List.of(batch(), batch()));
        Path saved = tmp.resolve("state");
        a.save(saved);
        double[] losses = new double[3];
        for (int i = 0; i < 3; i++) losses[i] = a.step(List.of(batch())).loss();
        LoraTrainer b = LoraTrainer.restore(grads, saved, SETTINGS);
        assertEquals(2, b.step());
        for (int i = 0; i < 3; i++) assertEquals(losses[i], b.step(List.of(batch())).loss(), 0.0, "step " + (i + 3));
        for (String p : a.weights().keySet()) assertArrayEquals(a.weights().get(p), b.weights().get(p), p);
    }

    @Test
    void lossFallsAndTheScheduleIsFollowed() throws Exception {
        LoraTrainer t = new LoraTrainer(grads, adapter.tensors(), SETTINGS);
        LoraTrainer.StepMetrics first = t.step(List.of(batch()));
        assertEquals(0.0, first.learningRate(), 0.0); // warmup starts at 0
        LoraTrainer.StepMetrics m = first;
        for (int i = 0; i < 9; i++) m = t.step(List.of(batch()));
        assertTrue(m.loss() < first.loss() - 0.05, first.loss() + " -> " + m.loss());
        assertEquals(5e-3 * new LrSchedule.Cosine(0.1).factor(9, 10, 2), m.learningRate(), 1e-15);
    }

    @Test
    void accumulatingIdenticalMicroBatchesEqualsOne() throws Exception {
        LoraTrainer one = new LoraTrainer(grads, adapter.tensors(), SETTINGS), two = new LoraTrainer(grads, adapter.tensors(), SETTINGS);
        for (int i = 0; i < 3; i++) {
            one.step(List.of(batch()));
            two.step(List.of(batch(), batch()));
        }
        for (String p : one.weights().keySet()) assertArrayEquals(one.weights().get(p), two.weights().get(p), 1e-6f, p);
    }

    @Test
    void nonFiniteLossStopsBeforeTheUpdate() throws Exception {
        LoraTrainer t = new LoraTrainer(grads, adapter.tensors(), SETTINGS);
        Map<String, float[]> before = new LinkedHashMap<>();
        t.weights().forEach((k, v) -> before.put(k, v.clone()));
        GrpoMicroBatch b = batch();
        float[] adv = rc.advantages().clone();
        adv[0] = Float.NaN;
        GrpoMicroBatch bad = new GrpoMicroBatch(0, b.rows(), b.length(), b.inputIds(), b.attentionMask(), b.positionIds(), b.targetPositions(),
                b.targetIds(), b.tokenWeights(), adv, b.oldLogps(), b.refLogps(), b.loraScale(), b.temperature(), b.beta(), b.epsilonLow(),
                b.epsilonHigh(), null);
        ArithmeticException e = assertThrows(ArithmeticException.class, () -> t.step(List.of(bad)));
        assertTrue(e.getMessage().contains("step 1") && e.getMessage().contains("non-finite"), e.getMessage());
        for (String p : before.keySet()) assertTrue(Arrays.equals(before.get(p), t.weights().get(p)), "weights untouched: " + p);
        assertEquals(0, t.step());
        assertFalse(Files.exists(tmp.resolve("poisoned")));
    }

    @Test
    void aStateOfAnotherRankIsRefusedByName() throws Exception {
        LoraTrainer t = new LoraTrainer(grads, adapter.tensors(), SETTINGS);
        Path saved = tmp.resolve("rank4");
        t.save(saved);
        var rank2 = TrainingGraph.gradientGraph(tmp.resolve("export"), 2, adapter.config().targets(), new LossHead.Grpo(), "rank2.onnx");
        Map<String, long[]> shapes = new LinkedHashMap<>();
        grads.shapes().forEach((k, v) -> shapes.put(k, k.endsWith("lora_A.weight") ? new long[]{2, v[1]} : new long[]{v[0], 2}));
        try (GradientSession other = new GradientSession(rank2, shapes)) {
            var e = assertThrows(dev.tina.export.checkpoint.CheckpointFormatException.class, () -> LoraTrainer.restore(other, saved, SETTINGS));
            assertTrue(e.getMessage().contains("weight." + grads.params().getFirst()) && e.getMessage().contains("another model or rank"), e.getMessage());
        }
    }

    @Test
    void peftInitialisationStartsAtTheBaseModel() throws Exception {
        ModelConfig c = ModelConfig.read(FIXTURE.resolve("model/config.json"));
        Map<String, float[]> init = LoraInit.peft(c, adapter.config().targets(), 8, 3);
        for (var e : init.entrySet()) {
            if (e.getKey().endsWith("lora_B.weight")) {
                for (float x : e.getValue()) assertEquals(0f, x);
            } else {
                int in = e.getValue().length / 8;
                float max = 0;
                for (float x : e.getValue()) max = Math.max(max, Math.abs(x));
                assertTrue(max > 0 && max <= 1 / Math.sqrt(in) + 1e-6, e.getKey() + " " + max);
            }
        }
        String first = grads.params().getFirst();
        assertArrayEquals(init.get(first), LoraInit.peft(c, adapter.config().targets(), 8, 3).get(first), "seeded");
    }

    @Test
    void trainedAdapterExportsInPeftLayoutThatTheRuntimeLoads() throws Exception {
        LoraTrainer t = new LoraTrainer(grads, adapter.tensors(), SETTINGS);
        t.step(List.of(batch()));
        Path out = tmp.resolve("trained-adapter");
        ModelConfig c = ModelConfig.read(FIXTURE.resolve("model/config.json"));
        t.exportAdapter(out, adapter.config(), c);
        PeftAdapter back = PeftAdapter.read(out, c);
        for (String p : t.weights().keySet()) assertArrayEquals(t.weights().get(p), back.tensors().get(p), p);
        try (var d = dev.tina.runtime.OrtDecoder.open(tmp.resolve("export"));
             var binding = dev.tina.runtime.AdapterBinding.of(d.environment(), d.descriptor(), back)) {
            assertEquals(4, binding.rank());
        }
    }
}
