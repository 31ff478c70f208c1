package dev.tina.training.optim;

import dev.tina.training.ort.GradientEngine;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GradientSumTest {
    static GradientSum.Part part(int index, float[] g) {
        return new GradientSum.Part(index, new GradientEngine.Result(index + 0.5, new float[]{index}, null, Map.of("w", g)));
    }

    @Test
    void theSumIsTakenInIndexOrderWhateverOrderResultsArriveIn() {
        // values whose float sum depends on the order: 1e8 + 1 - 1e8
        SplittableRandom rng = new SplittableRandom(1);
        List<GradientSum.Part> parts = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            float[] g = new float[64];
            for (int k = 0; k < g.length; k++) g[k] = (float) (rng.nextDouble(-1, 1) * Math.pow(10, rng.nextInt(9)));
            parts.add(part(i, g));
        }
        GradientSum.Mean inOrder = GradientSum.mean(parts);
        float[] sequential = new float[64];
        for (GradientSum.Part p : parts) for (int k = 0; k < 64; k++) sequential[k] += p.result().gradients().get("w")[k];
        for (int k = 0; k < 64; k++) sequential[k] *= 1f / 16;
        assertArrayEquals(sequential, inOrder.gradients().get("w"));
        for (int trial = 0; trial < 5; trial++) {
            List<GradientSum.Part> shuffled = new ArrayList<>(parts);
            Collections.shuffle(shuffled, new java.util.Random(trial));
            GradientSum.Mean m = GradientSum.mean(shuffled);
            assertArrayEquals(inOrder.gradients().get("w"), m.gradients().get("w"));
            assertEquals(inOrder.loss(), m.loss());
            for (int i = 0; i < 16; i++) assertArrayEquals(new float[]{i}, m.logps().get(i), "log-probs in index order");
        }
        // and the order matters: summing in reverse gives other bits somewhere
        float[] reverse = new float[64];
        for (int i = 15; i >= 0; i--) for (int k = 0; k < 64; k++) reverse[k] += parts.get(i).result().gradients().get("w")[k];
        boolean differs = false;
        for (int k = 0; k < 64; k++) differs |= reverse[k] * (1f / 16) != sequential[k];
        assertTrue(differs, "the test data must be order-sensitive");
    }

    @Test
    void missingDuplicateAndOutOfRangeIndicesAreRefused() {
        float[] g = {1};
        assertThrows(IllegalArgumentException.class, () -> GradientSum.mean(List.of()));
        var dup = assertThrows(IllegalArgumentException.class, () -> GradientSum.mean(List.of(part(0, g), part(0, g))));
        assertTrue(dup.getMessage().contains("twice"));
        var gap = assertThrows(IllegalArgumentException.class, () -> GradientSum.mean(List.of(part(0, g), part(2, g))));
        assertTrue(gap.getMessage().contains("index 2"));
        assertThrows(IllegalArgumentException.class, () -> GradientSum.mean(List.of(part(0, g), part(1, new float[]{1, 2}))));
        assertNotEquals(null, GradientSum.mean(List.of(part(1, g), part(0, g))));
    }
}
