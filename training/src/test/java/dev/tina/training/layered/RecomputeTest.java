package dev.tina.training.layered;

import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.runtime.SessionSettings;
import dev.tina.training.graph.LossHead;
import dev.tina.training.grpo.GrpoRecipe;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The recompute mode: parsed by name, defaulted by device in recipes, refused where it cannot run. */
class RecomputeTest {
    @Test
    void recipesDefaultToLayerOnTheCpuAndNoneOnAGpu() {
        assertEquals(Recompute.LAYER, GrpoRecipe.parse("lora_r: 8", "r.yaml").recomputeMode());
        assertEquals(Recompute.NONE, GrpoRecipe.parse("device: cuda", "r.yaml").recomputeMode());
        assertEquals(Recompute.NONE, GrpoRecipe.parse("recompute: none", "r.yaml").recomputeMode());
        var bad = assertThrows(CheckpointFormatException.class, () -> GrpoRecipe.parse("recompute: full", "r.yaml"));
        assertTrue(bad.getMessage().contains("unknown recompute mode 'full', expected one of none, layer"), bad.getMessage());
    }

    @Test
    void theLayeredPassRefusesAGpuWithAClearError() {
        var spec = new Recompute.Spec(Path.of("unused"), null, List.of(Projection.Q_PROJ), 4, new LossHead.Grpo(), 0, true, "x");
        var e = assertThrows(IllegalArgumentException.class,
                () -> Recompute.LAYER.open(spec, null, false, SessionSettings.Device.CUDA, LayeredGradients.Options.defaults()));
        assertTrue(e.getMessage().contains("--recompute none"), e.getMessage());
        var opt = assertThrows(IllegalArgumentException.class, () -> new LayeredGradients.Options(0, 1024, 1, true));
        assertTrue(opt.getMessage().contains("attention block"), opt.getMessage());
    }
}
