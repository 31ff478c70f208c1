package dev.tina.runtime.gpu;

import dev.tina.export.ModelDescriptor;
import dev.tina.export.onnx.DecoderGraph;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Engine profiles and settings: pure computation, no GPU. */
class TensorRtProfilesTest {
    /** The DeepSeek-R1-Distill-Qwen-1.5B shape, two of its 28 layers, q_proj and down_proj targets. */
    static ModelDescriptor descriptor(List<String> targets) {
        return new ModelDescriptor(ModelDescriptor.FORMAT_VERSION, "test", "Qwen2ForCausalLM", "model.onnx", "float32", "float32",
                2, 12, 2, 128, 1536, 151936, List.of(151646L), List.of(151643L), targets,
                Map.of("q_proj", new int[]{1536, 1536}, "down_proj", new int[]{8960, 1536}), Map.of());
    }

    @Test
    void prefillAndDecodeProfilesCoverTheirShapes() {
        TensorRtSettings s = TensorRtSettings.defaults(); // batch ≤ 64 (opt 16), prompt ≤ 1024 (opt 128), context 4096, rank ≤ 64
        List<TensorRtProfiles.Profile> ps = TensorRtProfiles.compute(descriptor(List.of("q_proj", "down_proj")), s);
        assertEquals(List.of("prefill", "decode"), ps.stream().map(TensorRtProfiles.Profile::name).toList());
        var prefill = ps.get(0).inputs();
        var decode = ps.get(1).inputs();

        assertArrayEquals(new long[]{1, 1}, prefill.get("input_ids").min());
        assertArrayEquals(new long[]{16, 128}, prefill.get("input_ids").opt());
        assertArrayEquals(new long[]{64, 1024}, prefill.get("input_ids").max());
        // prefill: only the masked first slot is cached; total = 1 + prompt
        assertArrayEquals(new long[]{64, 2, 1, 128}, prefill.get(DecoderGraph.pastKey(1)).max());
        assertArrayEquals(new long[]{64, 1025}, prefill.get("attention_mask").max());

        // decode: one token per row over up to maxContext − 1 cached positions
        assertArrayEquals(new long[]{64, 1}, decode.get("input_ids").max());
        assertArrayEquals(new long[]{1, 2, 1, 128}, decode.get(DecoderGraph.pastValue(0)).min());
        assertArrayEquals(new long[]{16, 2, 2048, 128}, decode.get(DecoderGraph.pastValue(0)).opt());
        assertArrayEquals(new long[]{64, 2, 4095, 128}, decode.get(DecoderGraph.pastValue(0)).max());
        assertArrayEquals(new long[]{64, 4096}, decode.get("attention_mask").max());
        assertArrayEquals(new long[]{1, 2}, decode.get("attention_mask").min());

        // no zero-sized dimension anywhere (the masked slot makes the cache non-empty)
        for (var p : ps) for (var r : p.inputs().values()) for (long v : r.min()) assertTrue(v >= 1, p.describe());
    }

    @Test
    void loraFactorsAreFixedAtTheMaximumRank() {
        TensorRtSettings s = new TensorRtSettings(8, 4, 64, 16, 256, 32, TensorRtSettings.Precision.FP16);
        var in = TensorRtProfiles.compute(descriptor(List.of("q_proj", "down_proj")), s).get(1).inputs();
        var a = in.get("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight");
        var b = in.get("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight");
        assertArrayEquals(new long[]{32, 8960}, a.min());
        assertArrayEquals(a.min(), a.max());
        assertArrayEquals(new long[]{1536, 32}, b.opt());
        assertArrayEquals(new long[]{1}, in.get(DecoderGraph.LORA_SCALE).max());
        // 3 + 2 layers × 2 (K, V) + scale + 2 layers × 2 targets × 2 factors
        assertEquals(3 + 4 + 1 + 8, in.size());
        // an export without LoRA inputs has none in the profile
        assertEquals(3 + 4, TensorRtProfiles.compute(descriptor(List.of()), s).get(0).inputs().size());
    }

    @Test
    void everySettingChangesTheProfileDescription() {
        ModelDescriptor d = descriptor(List.of("q_proj"));
        TensorRtSettings base = new TensorRtSettings(8, 4, 64, 16, 256, 32, TensorRtSettings.Precision.FP16);
        String ref = TensorRtProfiles.describe(TensorRtProfiles.compute(d, base));
        for (TensorRtSettings other : List.of(
                new TensorRtSettings(16, 4, 64, 16, 256, 32, TensorRtSettings.Precision.FP16),
                new TensorRtSettings(8, 8, 64, 16, 256, 32, TensorRtSettings.Precision.FP16),
                new TensorRtSettings(8, 4, 128, 16, 256, 32, TensorRtSettings.Precision.FP16),
                new TensorRtSettings(8, 4, 64, 32, 256, 32, TensorRtSettings.Precision.FP16),
                new TensorRtSettings(8, 4, 64, 16, 512, 32, TensorRtSettings.Precision.FP16),
                new TensorRtSettings(8, 4, 64, 16, 256, 64, TensorRtSettings.Precision.FP16))) {
            assertNotEquals(ref, TensorRtProfiles.describe(TensorRtProfiles.compute(d, other)), other.toString());
        }
        assertEquals(ref, TensorRtProfiles.describe(TensorRtProfiles.compute(d, base)));
    }

    @Test
    void settingsAreValidatedWithTheFieldNamed() {
        assertMessage(() -> new TensorRtSettings(0, 1, 8, 8, 16, 8, TensorRtSettings.Precision.FP16), "max batch must be >= 1");
        assertMessage(() -> new TensorRtSettings(4, 8, 8, 8, 16, 8, TensorRtSettings.Precision.FP16), "opt batch must be in [1, 4]");
        assertMessage(() -> new TensorRtSettings(4, 4, 64, 8, 65, 8, TensorRtSettings.Precision.FP16), "max context 65 must be at least max prompt 64 + 2");
        assertMessage(() -> new TensorRtSettings(4, 4, 8, 8, 16, 0, TensorRtSettings.Precision.FP16), "max LoRA rank must be >= 1");
        assertMessage(() -> TensorRtSettings.Precision.parse("int8"), "expected fp32, fp16 or bf16");
        assertEquals(TensorRtSettings.Precision.BF16, TensorRtSettings.Precision.parse("bfloat16"));
    }

    @Test
    void environmentOverridesDefaults() {
        TensorRtSettings s = TensorRtSettings.fromEnvironment(Map.of("TINA_TRT_MAX_BATCH", "8", "TINA_TRT_MAX_RANK", "128",
                "TINA_TRT_PRECISION", "bf16", "TINA_TRT_MAX_CONTEXT", "2048"));
        assertEquals(8, s.maxBatch());
        assertEquals(8, s.optBatch()); // the default 16 capped at the max
        assertEquals(128, s.maxRank());
        assertEquals(2048, s.maxContext());
        assertEquals(TensorRtSettings.Precision.BF16, s.precision());
        assertEquals(TensorRtSettings.defaults(), TensorRtSettings.fromEnvironment(Map.of()));
        assertMessage(() -> TensorRtSettings.fromEnvironment(Map.of("TINA_TRT_MAX_BATCH", "lots")), "TINA_TRT_MAX_BATCH='lots' is not an integer");
    }

    @Test
    void runsThatDoNotFitNameTheSettingToChange() {
        TensorRtSettings s = new TensorRtSettings(8, 4, 64, 16, 256, 32, TensorRtSettings.Precision.FP16);
        TensorRtProfiles.checkFits(s, 8, 64, 191); // 1 + 64 + 191 = 256
        assertMessage(() -> TensorRtProfiles.checkFits(s, 9, 10, 10), "TINA_TRT_MAX_BATCH");
        assertMessage(() -> TensorRtProfiles.checkFits(s, 1, 65, 10), "TINA_TRT_MAX_PROMPT");
        assertMessage(() -> TensorRtProfiles.checkFits(s, 1, 64, 192), "257 positions exceed the TensorRT engine's max context 256");
    }

    static void assertMessage(Runnable r, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
