package dev.tina.runtime.sampling;

/**
 * exp(x) for x ≤ 0 in single precision without {@code Math.exp}'s call per element: 2^(x·log₂e)
 * split into an integer power (set in the exponent bits) and a fractional power from a degree-6
 * polynomial (relative error below 1e-5 over [-87, 0], from the float rounding of x·log₂e). Branch-free, so the JIT
 * vectorises loops over it; the sampler spends its time here, once per vocabulary entry per row.
 */
final class FastExp {
    private static final float LOG2E = 1.4426950408889634f;
    // 2^f on [0, 1): Taylor coefficients of e^(f ln 2), enough terms for float precision.
    private static final float C1 = 0.6931471805599453f, C2 = 0.2402265069591007f, C3 = 0.05550410866482158f,
            C4 = 0.009618129107628477f, C5 = 0.0013333558146428443f, C6 = 1.5403530393381608e-4f, C7 = 1.525273380405984e-5f;

    private FastExp() {}

    static float exp(float x) {
        float t = Math.max(x * LOG2E, -126f);
        float fl = (float) Math.floor(t);
        float f = t - fl;
        float p = 1f + f * (C1 + f * (C2 + f * (C3 + f * (C4 + f * (C5 + f * (C6 + f * C7))))));
        return Float.intBitsToFloat(((int) fl + 127) << 23) * p;
    }
}
