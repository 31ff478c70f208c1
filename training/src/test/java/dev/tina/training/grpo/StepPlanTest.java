package dev.tina.training.grpo;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import dev.tina.training.graph.TrainingInput;
import dev.tina.training.graph.GrpoMicroBatch;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StepPlanTest {
    static StepPlan plan(int prompts, int generations, int microBatch, int slices) {
        List<long[]> p = new ArrayList<>();
        List<String> a = new ArrayList<>();
        for (int i = 0; i < prompts; i++) {
            p.add(new long[]{i + 1, i + 2});
            a.add(Integer.toString(i));
        }
        return new StepPlan(3, "step-3-abcdef012345", p, a, generations, microBatch, slices);
    }

    @Test
    void slicesAreWholeGroupsAndWholeMicroBatchesInPromptOrder() {
        // Open-RS2's shape: 8 prompts × 6 = 48 completions, micro-batches of 12 → units of lcm(6, 12) = 12 = 2 prompts
        StepPlan p = plan(8, 6, 12, 3);
        assertEquals(4, p.units());
        List<StepPlan.Slice> s = p.slices();
        assertEquals(3, s.size());
        int next = 0;
        for (StepPlan.Slice x : s) {
            assertEquals(next, x.firstPrompt());
            assertEquals(0, x.prompts().size() % 2, "whole units");
            assertEquals(x.firstPrompt() * 6 / 12, x.firstMicroBatch());
            assertArrayEquals(new long[]{next + 1, next + 2}, x.prompts().getFirst());
            assertEquals(Integer.toString(next), x.answers().getFirst());
            next += x.prompts().size();
        }
        assertEquals(8, next);
        assertEquals(4, plan(8, 6, 12, 64).slices().size(), "never more slices than units");
        assertEquals(1, p.whole().firstMicroBatch() + 1);
        // micro-batches smaller than a group: units of one group
        assertEquals(8, plan(8, 6, 3, 1).units());
        assertEquals(4, plan(8, 6, 3, 8).slices().get(2).firstMicroBatch());
    }

    @Test
    void stepsThatDoNotSplitIntoUnitsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> plan(3, 4, 8, 1)); // 12 completions, units of 8
        assertThrows(IllegalArgumentException.class, () -> plan(2, 4, 4, 0));
    }

    @Test
    void slicesAndMicroBatchesSurviveJavaSerialisation() throws Exception {
        StepPlan.Slice s = plan(4, 4, 4, 2).slices().get(1);
        StepPlan.Slice back = roundTrip(s);
        assertEquals(s.firstPrompt(), back.firstPrompt());
        assertEquals(s.adapterVersion(), back.adapterVersion());
        assertArrayEquals(s.prompts().get(1), back.prompts().get(1));
        GrpoMicroBatch mb = new GrpoMicroBatch(2, 1, 3, new long[]{1, 2, 3}, new long[]{1, 1, 1}, new long[]{0, 1, 2}, new long[]{1, 2},
                new long[]{2, 3}, new float[]{0.5f, 0.5f}, new float[]{1, 1}, new float[]{-1, -2}, new float[]{-1.5f, -2.5f}, 4f, 1f, 0.04f, 0.2f, 0.2f, 11L);
        assertEquals(mb, roundTrip(mb));
        var bad = assertThrows(IllegalArgumentException.class, () -> new GrpoMicroBatch(0, 1, 3, new long[]{1, 2, 3}, new long[]{1, 1, 1},
                new long[]{0, 1, 2}, new long[]{7}, new long[]{2}, new float[]{1}, new float[]{1}, new float[]{1}, new float[]{1}, 1, 1, 0, 0.2f, 0.2f, null));
        assertTrue(bad.getMessage().contains("target position 7"), bad.getMessage());
        var ref = mb.forReference();
        assertEquals(0f, ref.loraScale());
        assertEquals(null, ref.dropoutSeed());
        assertNotNull(ref.values(TrainingInput.REF_LOGPS));
        assertNull(ref.values(TrainingInput.DROPOUT_SEED), "the reference pass has no dropout");
        assertArrayEquals(new long[]{mb.dropoutSeed()}, (long[]) mb.values(TrainingInput.DROPOUT_SEED));
    }

    @SuppressWarnings("unchecked")
    static <T> T roundTrip(T o) throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(b)) {
            out.writeObject(o);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b.toByteArray()))) {
            return (T) in.readObject();
        }
    }
}
