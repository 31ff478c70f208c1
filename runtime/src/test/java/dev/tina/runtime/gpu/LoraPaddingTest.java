package dev.tina.runtime.gpu;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Zero-padding LoRA factors to the engine's maximum rank leaves (x Aᵀ) Bᵀ unchanged. */
class LoraPaddingTest {
    @Test
    void paddedFactorsGiveTheSameDelta() {
        SplittableRandom rng = new SplittableRandom(3);
        int in = 7, out = 5, r = 3, max = 8, rows = 4;
        float[] a = random(rng, r * in), b = random(rng, out * r), x = random(rng, rows * in);
        float[] pa = LoraPadding.padA("A", a, r, in, max), pb = LoraPadding.padB("B", b, out, r, max);
        assertEquals(max * in, pa.length);
        assertEquals(out * max, pb.length);
        float[] want = delta(x, a, b, rows, in, out, r), got = delta(x, pa, pb, rows, in, out, max);
        assertArrayEquals(want, got, 0f); // the extra terms are exact zeros
        for (int k = r * in; k < pa.length; k++) assertEquals(0f, pa[k]);
        for (int o = 0; o < out; o++) for (int k = r; k < max; k++) assertEquals(0f, pb[o * max + k]);
    }

    @Test
    void rankZeroIsTheBaseModelAndEqualRankIsACopy() {
        assertArrayEquals(new float[4 * 3], LoraPadding.padA("A", new float[0], 0, 3, 4));
        assertArrayEquals(new float[2 * 4], LoraPadding.padB("B", new float[0], 2, 0, 4));
        float[] a = {1, 2, 3, 4, 5, 6};
        assertArrayEquals(a, LoraPadding.padA("A", a, 2, 3, 2));
    }

    @Test
    void tooLargeARankOrAWrongSizeIsNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> LoraPadding.padA("layers.0.q_proj.lora_A.weight", new float[65 * 2], 65, 2, 64));
        assertTrue(e.getMessage().contains("layers.0.q_proj.lora_A.weight: LoRA rank 65 exceeds the TensorRT engine's maximum rank 64")
                && e.getMessage().contains("TINA_TRT_MAX_RANK=65"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LoraPadding.padB("B", new float[5], 2, 3, 4));
        assertTrue(e.getMessage().contains("B: 5 values, expected [2, 3] = 6"), e.getMessage());
    }

    /** (x Aᵀ) Bᵀ for x [rows, in], A [r, in], B [out, r]. */
    static float[] delta(float[] x, float[] a, float[] b, int rows, int in, int out, int r) {
        float[] res = new float[rows * out];
        for (int i = 0; i < rows; i++) {
            float[] h = new float[r];
            for (int k = 0; k < r; k++) for (int j = 0; j < in; j++) h[k] += x[i * in + j] * a[k * in + j];
            for (int o = 0; o < out; o++) for (int k = 0; k < r; k++) res[i * out + o] += h[k] * b[o * r + k];
        }
        return res;
    }

    static float[] random(SplittableRandom rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rng.nextDouble(-1, 1);
        return v;
    }
}
