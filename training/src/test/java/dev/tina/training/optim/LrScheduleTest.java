package dev.tina.training.optim;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Values of transformers' schedulers, worked out from their definitions. */
class LrScheduleTest {
    @Test
    void warmupThenDecay() {
        long total = 100, warmup = LrSchedule.warmupSteps(0.1, total);
        assertEquals(10, warmup);
        for (LrSchedule s : new LrSchedule[]{new LrSchedule.Constant(), new LrSchedule.Linear(), new LrSchedule.Cosine(0), new LrSchedule.Cosine(0.1)}) {
            assertEquals(0.0, s.factor(0, total, warmup), 1e-12);
            assertEquals(0.5, s.factor(5, total, warmup), 1e-12);
            assertEquals(1.0, s.factor(10, total, warmup), 1e-12);
        }
        assertEquals(1.0, new LrSchedule.Constant().factor(99, total, warmup), 1e-12);
        assertEquals(0.5, new LrSchedule.Linear().factor(55, total, warmup), 1e-12);
        assertEquals(0.5, new LrSchedule.Cosine(0).factor(55, total, warmup), 1e-12);
        assertEquals(0.1 + 0.9 * 0.5, new LrSchedule.Cosine(0.1).factor(55, total, warmup), 1e-12); // Tina: cosine_with_min_lr, min_lr_rate 0.1
        assertEquals(0.1, new LrSchedule.Cosine(0.1).factor(100, total, warmup), 1e-12);
        assertEquals(0.0, new LrSchedule.Linear().factor(100, total, warmup), 1e-12);
    }

    @Test
    void namesAreTrls() {
        assertEquals(new LrSchedule.Cosine(0.1), LrSchedule.parse("cosine_with_min_lr", 0.1));
        var e = assertThrows(IllegalArgumentException.class, () -> LrSchedule.parse("polynomial", 0));
        assertEquals(true, e.getMessage().contains("cosine_with_min_lr"));
    }
}
