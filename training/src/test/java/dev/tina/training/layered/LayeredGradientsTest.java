package dev.tina.training.layered;

import dev.tina.training.graph.SftMicroBatch;
import dev.tina.training.graph.MicroBatch;
import dev.tina.training.graph.GrpoMicroBatch;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.init.RandomCheckpoint;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.ort.GradientEngine;
import dev.tina.training.ort.TrainingNatives;
import dev.tina.runtime.SessionSettings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The layer-by-layer pass with recomputation must give what the whole-model graph gives (itself
 * checked against an independent PyTorch reference in GrpoParityTest): the same loss, log-probs
 * and every LoRA gradient, on shapes that exercise what the layered pass does differently —
 * attention tiles smaller than the sequence, several row blocks, several head chunks, padding on
 * both sides, rows of padding only — and on the model variants (tied embeddings, MQA, no biases,
 * BF16 storage, a subset of targets, dropout, β = 0, SFT).
 */
class LayeredGradientsTest {
    static { TrainingNatives.install(); }

    record Case(String name, boolean qwen, boolean tied, int heads, int kvHeads, DType dtype, String targets, int rank,
                double dropout, float beta, float temperature, boolean sft) {
        @Override
        public String toString() { return name; }
    }

    static Stream<Arguments> cases() {
        return Stream.of(
                new Case("qwen2 GQA bias untied, all targets, r4", true, false, 4, 2, DType.F32, "all", 4, 0, 0.04f, 0.7f, false),
                new Case("llama MQA tied bf16, q,v only, r2, beta 0, T 1", false, true, 4, 1, DType.BF16, "q_proj,v_proj", 2, 0, 0f, 1f, false),
                new Case("qwen2 MHA, mlp only, r8, dropout 0.1", true, false, 2, 2, DType.F32, "gate_proj,up_proj,down_proj,o_proj", 8, 0.1, 0.04f, 0.9f, false),
                new Case("llama GQA tied, all targets, SFT", false, true, 4, 2, DType.F32, "all", 4, 0, 0f, 1f, true))
                .map(Arguments::of);
    }

    @ParameterizedTest
    @MethodSource("cases")
    void equalsTheWholeModelGraph(Case k, @TempDir Path tmp) throws Exception {
        Setup u = setup(k, tmp, k.targets(), k.rank(), 11);
        ModelConfig c = u.config();
        Map<String, float[]> lora = u.lora();
        LossHead head = k.sft() ? new LossHead.Sft() : new LossHead.Grpo();
        MicroBatch batch = batch(c, k, u.rng());
        var spec = new Recompute.Spec(u.export(), c, u.targets(), k.rank(), head, k.dropout(), true, "t");
        // small tiles, row blocks and head chunks so that every loop runs several times
        var small = new LayeredGradients.Options(5, 16, 4L * c.vocabSize() * 7, true);
        // a block longer than a row (one tile per row) and row blocks that end inside a row
        var wholeRows = new LayeredGradients.Options(32, 48, 4L * c.vocabSize() * 7, true);
        GradientEngine.Result whole;
        try (GradientEngine e = Recompute.NONE.open(spec, null, false, SessionSettings.Device.CPU, small)) {
            whole = e.run(batch, lora);
        }
        for (LayeredGradients.Options o : List.of(small, wholeRows)) {
            try (GradientEngine e = Recompute.LAYER.open(spec, null, false, SessionSettings.Device.CPU, o)) {
                assertAgree(k, batch, whole, e.run(batch, lora));
            }
        }
    }

    /**
     * Sequences shorter than the whole graph's query blocks (some blocks own no query): the whole
     * graph must still agree with the layered pass (an empty block once gave uninitialised gradients).
     */
    @Test
    void sequencesShorterThanTheQueryBlocks(@TempDir Path tmp) throws Exception {
        Case k = (Case) cases().findFirst().orElseThrow().get()[0];
        Setup u = setup(k, tmp, k.targets(), k.rank(), 5);
        ModelConfig c = u.config();
        SplittableRandom rng = u.rng();
        Map<String, float[]> lora = u.lora();
        var spec = new Recompute.Spec(u.export(), c, u.targets(), k.rank(), new LossHead.Grpo(), 0, true, "t");
        var options = new LayeredGradients.Options(5, 16, 4L * c.vocabSize() * 7, true);
        for (int s = 2; s <= 5; s++) {
            int b = 2, n = b * (s - 1);
            long[] ids = new long[b * s], mask = new long[b * s], pos = new long[b * s], tp = new long[n], ti = new long[n];
            for (int i = 0; i < b * s; i++) {
                ids[i] = rng.nextInt(c.vocabSize());
                mask[i] = 1;
                pos[i] = i % s;
            }
            float[] w = new float[n], adv = new float[n], old = new float[n], ref = new float[n];
            for (int i = 0, r = 0; r < b; r++) {
                for (int j = 0; j < s - 1; j++, i++) {
                    tp[i] = (long) r * s + j;
                    ti[i] = ids[r * s + j + 1];
                    w[i] = 1f / n;
                    adv[i] = r == 0 ? 0.7f : -0.9f;
                    old[i] = ref[i] = (float) -Math.log(c.vocabSize());
                }
            }
            MicroBatch batch = new GrpoMicroBatch(0, b, s, ids, mask, pos, tp, ti, w, adv, old, ref, 1.5f, 0.7f, 0.04f, 0.2f, 0.28f, null);
            GradientEngine.Result whole;
            try (GradientEngine e = Recompute.NONE.open(spec, null, false, SessionSettings.Device.CPU, options)) {
                whole = e.run(batch, lora);
            }
            try (GradientEngine e = Recompute.LAYER.open(spec, null, false, SessionSettings.Device.CPU, options)) {
                assertAgree(k, batch, whole, e.run(batch, lora));
            }
        }
    }

    static void assertAgree(Case k, MicroBatch batch, GradientEngine.Result whole, GradientEngine.Result layered) {
        double terms = 0;
        float[] w = batch.tokenWeights();
        for (int i = 0; i < w.length; i++) terms += Math.abs(w[i]) * (1 + Math.abs(whole.logps()[i]));
        assertEquals(whole.loss(), layered.loss(), 1e-5 * terms, "loss (tolerance scaled to the size of its terms)");
        assertClose(whole.logps(), layered.logps(), 1e-5, "logps");
        if (!k.sft()) assertClose(whole.kl(), layered.kl(), 1e-5, "kl");
        assertEquals(whole.gradients().keySet(), layered.gradients().keySet());
        for (String p : whole.gradients().keySet()) assertClose(whole.gradients().get(p), layered.gradients().get(p), 1e-5, p);
    }

    @Test
    void forwardOnlyGivesTheSameLogProbsAndNoGradients(@TempDir Path tmp) throws Exception {
        Case k = new Case("scoring", true, false, 4, 2, DType.F32, "all", 4, 0, 0.04f, 1f, false);
        Setup u = setup(k, tmp, "all", 4, 3);
        Map<String, float[]> lora = u.lora();
        MicroBatch batch = batch(u.config(), k, u.rng());
        var spec = new Recompute.Spec(u.export(), u.config(), u.targets(), 4, new LossHead.Grpo(), 0, true, "t");
        var scoring = new Recompute.Spec(u.export(), u.config(), u.targets(), 4, new LossHead.Grpo(), 0, false, "t");
        GradientEngine.Result full, scored;
        try (GradientEngine e = Recompute.LAYER.open(spec, null, false, SessionSettings.Device.CPU, LayeredGradients.Options.defaults())) {
            full = e.run(batch, lora);
        }
        try (GradientEngine e = Recompute.LAYER.open(scoring, null, false, SessionSettings.Device.CPU, LayeredGradients.Options.defaults())) {
            scored = e.run(batch, lora);
            assertTrue(scored.gradients().isEmpty());
            Map<String, float[]> missing = new LinkedHashMap<>(lora);
            missing.remove(missing.keySet().iterator().next());
            IllegalArgumentException e1 = assertThrows(IllegalArgumentException.class, () -> e.run(batch, missing));
            assertTrue(e1.getMessage().contains("no weights given for"), e1.getMessage());
            e.close();
            assertThrows(IllegalStateException.class, () -> e.run(batch, lora), "a closed engine refuses to run");
        }
        assertClose(full.logps(), scored.logps(), 0, "logps");
    }

    /**
     * GRPO's reference (the adapter off) scored by a graph without LoRA branches gives the log-probs
     * of the LoRA graph at lora_scale 0 with a non-zero adapter bound, in both passes.
     */
    @Test
    void theReferenceWithoutBranchesEqualsTheAdapterAtScaleZero(@TempDir Path tmp) throws Exception {
        Case k = new Case("reference", true, false, 4, 2, DType.F32, "all", 4, 0, 0.04f, 0.7f, false);
        Setup u = setup(k, tmp, "all", 4, 8);
        Map<String, float[]> lora = u.lora();
        GrpoMicroBatch batch = ((GrpoMicroBatch) batch(u.config(), k, u.rng())).forReference();
        var withBranches = new Recompute.Spec(u.export(), u.config(), u.targets(), 4, new LossHead.Grpo(), 0, false, "with");
        var without = new Recompute.Spec(u.export(), u.config(), List.of(), 4, new LossHead.Grpo(), 0, false, "without");
        for (Recompute mode : List.of(Recompute.NONE, Recompute.LAYER)) {
            GradientEngine.Result want, got;
            try (GradientEngine e = mode.open(withBranches, null, false, SessionSettings.Device.CPU, LayeredGradients.Options.defaults())) {
                want = e.run(batch, lora);
            }
            try (GradientEngine e = mode.open(without, null, false, SessionSettings.Device.CPU, LayeredGradients.Options.defaults())) {
                assertTrue(e.params().isEmpty(), mode + ": no LoRA inputs");
                got = e.run(batch, Map.of());
            }
            assertTrue(want.logps().length > 10, "targets scored");
            assertClose(want.logps(), got.logps(), 1e-6, mode + " reference logps");
        }
    }

    static void assertClose(float[] want, float[] got, double rel, String what) {
        assertEquals(want.length, got.length, what + ": length");
        double max = 0, err = 0;
        for (int i = 0; i < want.length; i++) {
            max = Math.max(max, Math.abs(want[i]));
            err = Math.max(err, Math.abs(want[i] - got[i]));
        }
        assertTrue(err <= rel * max, what + ": max|diff| " + err + " > " + rel + " × max " + max);
    }

    static Path model(Case k, Path tmp) throws Exception {
        ObjectNode cfg = new ObjectMapper().createObjectNode();
        cfg.putArray("architectures").add(k.qwen() ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
        cfg.put("model_type", k.qwen() ? "qwen2" : "llama");
        cfg.put("vocab_size", 97);
        cfg.put("hidden_size", 16 * k.heads());
        cfg.put("intermediate_size", 40);
        cfg.put("num_hidden_layers", 2);
        cfg.put("num_attention_heads", k.heads());
        cfg.put("num_key_value_heads", k.kvHeads());
        cfg.put("max_position_embeddings", 256);
        cfg.put("rms_norm_eps", 1e-6);
        cfg.put("rope_theta", 10000.0);
        cfg.put("tie_word_embeddings", k.tied());
        cfg.put("initializer_range", 0.2);
        cfg.put("hidden_act", "silu");
        Path conf = tmp.resolve("config.json");
        Files.writeString(conf, cfg.toString());
        Path hf = tmp.resolve("hf"), export = tmp.resolve("export");
        RandomCheckpoint.write(conf, hf, k.dtype(), 1, 5, false);
        DecoderExporter.export(hf, export, new DecoderExporter.Options(k.dtype(), List.of(Projection.values()), false));
        return export;
    }

    /** A test's model and adapter: the export of case k, its config, the targets, and random LoRA weights drawn from rng (seeded). */
    record Setup(Path export, ModelConfig config, List<Projection> targets, SplittableRandom rng, Map<String, float[]> lora) { }

    static Setup setup(Case k, Path tmp, String targets, int rank, long seed) throws Exception {
        Path export = model(k, tmp);
        ModelConfig c = ModelConfig.read(export.resolve("config.json"));
        List<Projection> t = Projection.parseList(targets);
        SplittableRandom rng = new SplittableRandom(seed);
        return new Setup(export, c, t, rng, lora(c, t, rank, rng));
    }

    static Map<String, float[]> lora(ModelConfig c, List<Projection> targets, int rank, SplittableRandom rng) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (String p : TrainingGraph.loraParams(c, targets)) {
            long[] s = TrainingGraph.paramShape(c, p, rank);
            float[] v = new float[(int) (s[0] * s[1])];
            for (int i = 0; i < v.length; i++) v[i] = (float) rng.nextDouble(-0.3, 0.3);
            out.put(p, v);
        }
        return out;
    }

    /** Three rows of 23 tokens: unpadded; left-padded by 4; left-padded by 2 and right-padded by 12 (a tile of padding only). */
    static MicroBatch batch(ModelConfig c, Case k, SplittableRandom rng) {
        int b = 3, s = 23;
        int[][] span = {{0, s}, {4, s}, {2, s - 12}};
        long[] ids = new long[b * s], mask = new long[b * s], pos = new long[b * s];
        List<long[]> t = new ArrayList<>();
        List<Integer> rowOf = new ArrayList<>();
        for (int r = 0; r < b; r++) {
            for (int j = 0; j < s; j++) {
                ids[r * s + j] = rng.nextInt(c.vocabSize());
                boolean on = j >= span[r][0] && j < span[r][1];
                mask[r * s + j] = on ? 1 : 0;
                pos[r * s + j] = Math.max(0, j - span[r][0]);
            }
            for (int j = span[r][0] + 3; j < span[r][1] - 1; j++) {
                t.add(new long[]{(long) r * s + j, ids[r * s + j + 1]});
                rowOf.add(r);
            }
        }
        int n = t.size();
        long[] tp = new long[n], ti = new long[n];
        float[] w = new float[n], adv = new float[n], old = new float[n], ref = new float[n];
        int[] count = new int[b];
        for (int r : rowOf) count[r]++;
        float[] rowAdv = {0.8f, -1.1f, 0.3f};
        for (int i = 0; i < n; i++) {
            tp[i] = t.get(i)[0];
            ti[i] = t.get(i)[1];
            w[i] = 1f / (b * count[rowOf.get(i)]);
            adv[i] = rowAdv[rowOf.get(i)];
            old[i] = (float) (-Math.log(c.vocabSize()) + rng.nextDouble(-0.3, 0.3));
            ref[i] = (float) (-Math.log(c.vocabSize()) + rng.nextDouble(-0.3, 0.3));
        }
        Long seed = k.dropout() > 0 ? 1234L : null;
        return k.sft() ? new SftMicroBatch(b, s, ids, mask, pos, tp, ti, w, 1.5f, k.temperature(), seed)
                : new GrpoMicroBatch(0, b, s, ids, mask, pos, tp, ti, w, adv, old, ref, 1.5f, k.temperature(), k.beta(), 0.2f, 0.28f, seed);
    }
}
