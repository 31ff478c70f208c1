package dev.tina.training.gpu;

import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.runtime.SessionSettings;
import dev.tina.training.grpo.GrpoRecipe;
import dev.tina.training.ort.TrainingNatives;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The recipe's device field and the choice of ONNX Runtime natives; no GPU needed. */
class DeviceSelectionTest {
    @Test
    void recipeDeviceDefaultsToCpuAndIsValidated() {
        assertEquals(SessionSettings.Device.CPU, GrpoRecipe.parse("lora_r: 8", "r.yaml").deviceKind());
        assertEquals(SessionSettings.Device.TENSORRT, GrpoRecipe.parse("device: tensorrt", "r.yaml").deviceKind());
        assertEquals(SessionSettings.Device.CUDA, GrpoRecipe.parse("lora_r: 8", "r.yaml").with(
                new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode().put("device", "cuda")).deviceKind());
        var bad = assertThrows(CheckpointFormatException.class, () -> GrpoRecipe.parse("device: tpu", "r.yaml"));
        assertTrue(bad.getMessage().contains("unknown device 'tpu', expected cpu, cuda or tensorrt"), bad.getMessage());
        var typo = assertThrows(CheckpointFormatException.class, () -> GrpoRecipe.parse("devise: cuda", "r.yaml"));
        assertTrue(typo.getMessage().contains("did you mean 'device'"), typo.getMessage());
    }

    @Test
    void gpuNativesArePreferredWhenPresentAndRequestsAreChecked() {
        assertEquals(TrainingNatives.Variant.GPU, TrainingNatives.choose(null, true, true));
        assertEquals(TrainingNatives.Variant.CPU, TrainingNatives.choose("auto", true, false));
        assertEquals(TrainingNatives.Variant.CPU, TrainingNatives.choose("cpu", true, true));
        assertEquals(TrainingNatives.Variant.NONE, TrainingNatives.choose("auto", false, false));
        var noGpu = assertThrows(IllegalArgumentException.class, () -> TrainingNatives.choose("gpu", true, false));
        assertTrue(noGpu.getMessage().contains("linux-x86_64-gpu is not on the class path") && noGpu.getMessage().contains("mvn -Pgpu"), noGpu.getMessage());
        var typo = assertThrows(IllegalArgumentException.class, () -> TrainingNatives.choose("cuda", true, true));
        assertTrue(typo.getMessage().contains("expected auto, cpu or gpu"), typo.getMessage());
    }
}
