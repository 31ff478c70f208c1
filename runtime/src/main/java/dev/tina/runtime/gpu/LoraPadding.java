package dev.tina.runtime.gpu;

/**
 * Zero-pads LoRA factors to the engine's fixed maximum rank R. With A [r, in] padded to [R, in]
 * (extra rows zero) and B [out, r] padded to [out, R] (extra columns zero),
 * {@code (x Aᵀ) Bᵀ} is unchanged: the extra rank components are 0 · 0. The scale stays the
 * adapter's own ({@code lora_alpha / r}), since it is an input of its own.
 */
public final class LoraPadding {
    private LoraPadding() {}

    /** A [r, in] row-major → [maxRank, in]. */
    public static float[] padA(String name, float[] a, int r, int in, int maxRank) {
        check(name, a, (long) r * in, r, maxRank, "[" + r + ", " + in + "]");
        float[] out = new float[maxRank * in];
        System.arraycopy(a, 0, out, 0, r * in);
        return out;
    }

    /** B [out, r] row-major → [out, maxRank]. */
    public static float[] padB(String name, float[] b, int out, int r, int maxRank) {
        check(name, b, (long) out * r, r, maxRank, "[" + out + ", " + r + "]");
        float[] res = new float[out * maxRank];
        for (int o = 0; o < out; o++) System.arraycopy(b, o * r, res, o * maxRank, r);
        return res;
    }

    private static void check(String name, float[] v, long expected, int r, int maxRank, String shape) {
        if (r < 0) throw new IllegalArgumentException(name + ": negative LoRA rank " + r);
        if (r > maxRank) {
            throw new IllegalArgumentException(name + ": LoRA rank " + r + " exceeds the TensorRT engine's maximum rank " + maxRank
                    + "; set TINA_TRT_MAX_RANK=" + r + " or more (a new engine is built once)");
        }
        if (v.length != expected) throw new IllegalArgumentException(name + ": " + v.length + " values, expected " + shape + " = " + expected);
    }
}
