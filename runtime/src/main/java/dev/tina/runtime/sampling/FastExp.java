package dev.tina.runtime.sampling;

/**
 * exp(x) for x ≤ 0 in single precision without {@code Math.exp}'s call per element: 2^(x·log₂e)
 * split into the nearest integer k (set in the exponent bits) and a remainder f in [−½, ½], whose
 * power 2^f comes from six Taylor terms by fused multiply-adds (truncation below 2e-7; the
 * relative error over [-87, 0] is below 1e-5, from the float rounding of x·log₂e). Branch-free;
 * {@link VectorPasses#exp} does the same operations lane by lane, so the two agree bit for bit.
 * The sampler spends its time here, once per vocabulary entry per row.
 */
final class FastExp {
    static final float LOG2E = 1.4426950408889634f;
    /** 1.5·2^23: adding and subtracting it rounds a float below 2^22 to the nearest integer. */
    static final float ROUND = 12582912f;
    // 2^f = e^(f ln 2): Taylor coefficients (ln 2)^n / n!
    static final float C1 = 0.6931471805599453f, C2 = 0.2402265069591007f, C3 = 0.05550410866482158f,
            C4 = 0.009618129107628477f, C5 = 0.0013333558146428443f, C6 = 1.5403530393381608e-4f;

    private FastExp() {}

    static float exp(float x) {
        float t = Math.max(x * LOG2E, -126f);
        float k = (t + ROUND) - ROUND;
        float f = t - k;
        float p = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(f, C6, C5), f, C4), f, C3), f, C2), f, C1), f, 1f);
        return Float.intBitsToFloat(((int) k + 127) << 23) * p;
    }
}
