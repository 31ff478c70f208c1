package dev.tina.training.graph;

import dev.tina.testsupport.Shared;

import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.Projection;
import dev.tina.training.ort.TrainingNatives;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AggregationTest {
    static { TrainingNatives.install(); }
    static final Path FIXTURE = Shared.path("fixtures/qwen2-small");

    @Test
    void weightsFollowTrlsDefinitions() {
        int[] rows = {0, 0, 0, 1}; // row 0 has 3 completion tokens, row 1 has 1
        assertArrayEquals(new float[]{1f / 6, 1f / 6, 1f / 6, 1f / 2}, new Aggregation.Grpo().weights(rows, 2, 10), 1e-7f);
        assertArrayEquals(new float[]{0.25f, 0.25f, 0.25f, 0.25f}, new Aggregation.Bnpo().weights(rows, 2, 10), 1e-7f);
        assertArrayEquals(new float[]{0.05f, 0.05f, 0.05f, 0.05f}, new Aggregation.DrGrpo().weights(rows, 2, 10), 1e-7f);
        var e = assertThrows(IllegalArgumentException.class, () -> Aggregation.parse("sum"));
        assertTrue(e.getMessage().contains("dr_grpo"));
    }

    @Test
    void badTrainingRequestsAreClearErrors(@TempDir Path tmp) throws Exception {
        Path export = tmp.resolve("export");
        DecoderExporter.export(FIXTURE.resolve("model"), export, new DecoderExporter.Options(DType.F32, List.of(Projection.Q_PROJ), false));
        var lacking = assertThrows(IllegalArgumentException.class, () -> TrainingGraph.gradientGraph(export, 4,
                List.of(Projection.Q_PROJ, Projection.DOWN_PROJ), new LossHead.Grpo(), "x.onnx"));
        assertTrue(lacking.getMessage().contains("down_proj") && lacking.getMessage().contains("re-export"), lacking.getMessage());
        var rank0 = assertThrows(IllegalArgumentException.class, () -> TrainingGraph.gradientGraph(export, 0,
                List.of(Projection.Q_PROJ), new LossHead.Grpo(), "x.onnx"));
        assertTrue(rank0.getMessage().contains("rank"), rank0.getMessage());
        var unknown = assertThrows(IllegalArgumentException.class, () -> Projection.parseList("q_proj,lm_head"));
        assertTrue(unknown.getMessage().contains("lm_head") && unknown.getMessage().contains("down_proj"), unknown.getMessage());
    }
}
