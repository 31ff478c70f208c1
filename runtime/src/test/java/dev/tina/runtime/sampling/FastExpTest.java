package dev.tina.runtime.sampling;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FastExpTest {
    @Test
    void matchesMathExpToFloatPrecisionOverTheSamplersRange() {
        double worst = 0;
        for (float x = -87f; x <= 0f; x += 0.000731f) {
            double want = Math.exp(x), got = FastExp.exp(x);
            worst = Math.max(worst, Math.abs(got - want) / want);
        }
        // float rounding of x·log₂e dominates near the bottom of the range
        assertTrue(worst < 1e-5, "max relative error " + worst);
        assertEquals(1f, FastExp.exp(0f), 1e-7f);
        assertEquals(0f, FastExp.exp(-1000f), 1e-37f); // underflow to (nearly) zero, no garbage
    }
}
