package dev.tina.export.quant;

import java.util.Collection;
import java.util.Locale;

/**
 * Block-wise weight quantization in the layout of ONNX Runtime's {@code com.microsoft.MatMulNBits}:
 * a weight W [N, K] (the checkpoint's [out, in]) is cut along K into blocks of {@code blockSize};
 * each block of each row has a float scale and a zero point, and a code c dequantizes to
 * {@code (c − zero_point) · scale}.
 * <ul>
 *   <li>B: uint8 [N, K / blockSize, blockSize · bits / 8], codes packed along K, low nibble first (int4);</li>
 *   <li>scales: float [N · K / blockSize];</li>
 *   <li>zero points (int4 only, asymmetric): uint8 [N · ceil(blocks / 2)], two per byte, low nibble first,
 *       each row starting on a byte; int8 is symmetric (no zero-point input: the operator's default, 128).</li>
 * </ul>
 * Written by hand because no Java library quantizes into this operator's layout.
 */
public final class BlockQuantizer {
    public enum Scheme {
        INT8(8), INT4(4),
        /**
         * int8 weights with one scale per output channel and int8 activations with one scale per
         * row (token), quantized in the graph: integer matrix products ({@code MatMulInteger}, ONNX
         * Runtime's u8s8 GEMM with VNNI/AMX) instead of MatMulNBits; see {@link ChannelQuantizer}.
         */
        W8A8(8);

        public final int bits;

        Scheme(int bits) { this.bits = bits; }

        public String cli() { return name().toLowerCase(Locale.ROOT); }

        /** Whether weights are cut into blocks along K (MatMulNBits); W8A8 has one scale per output channel. */
        public boolean blockWise() { return this != W8A8; }

        public static Scheme parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "int8", "q8" -> INT8;
                case "int4", "q4" -> INT4;
                case "w8a8" -> W8A8;
                default -> throw new IllegalArgumentException("unknown quantization scheme '" + s + "', expected int8, int4 or w8a8");
            };
        }
    }

    public static final java.util.List<Integer> BLOCK_SIZES = java.util.List.of(16, 32, 64, 128, 256);

    /** One quantized weight: the three MatMulNBits inputs, zeroPoints null when symmetric. */
    public record Quantized(Scheme scheme, int n, int k, int blockSize, byte[] b, float[] scales, byte[] zeroPoints) {
        public int blocks() { return k / blockSize; }

        public int blobSize() { return blockSize * scheme.bits / 8; }

        /** W as the operator sees it, [N, K] row-major (for tests and error reports). */
        public float[] dequantize() {
            float[] w = new float[n * k];
            int kb = blocks();
            for (int row = 0; row < n; row++) {
                for (int blk = 0; blk < kb; blk++) {
                    float s = scales[row * kb + blk];
                    int zp = zeroPoint(row, blk);
                    for (int j = 0; j < blockSize; j++) {
                        w[row * k + blk * blockSize + j] = (code(row, blk, j) - zp) * s;
                    }
                }
            }
            return w;
        }

        int code(int row, int blk, int j) {
            int base = (row * blocks() + blk) * blobSize();
            if (scheme == Scheme.INT8) return b[base + j] & 0xff;
            int v = b[base + j / 2] & 0xff;
            return (j & 1) == 0 ? v & 0x0f : v >>> 4;
        }

        int zeroPoint(int row, int blk) {
            if (zeroPoints == null) return 1 << (scheme.bits - 1);
            int perRow = (blocks() + 1) / 2;
            int v = zeroPoints[row * perRow + blk / 2] & 0xff;
            return (blk & 1) == 0 ? v & 0x0f : v >>> 4;
        }
    }

    private BlockQuantizer() {}

    /**
     * The block size when none is given: int4 takes the largest of 128, 64, 32, 16 that divides every
     * in-feature count (128, AWQ's and GPTQ's usual group, measured 1.5× faster than 32 at batch 1
     * and 16 on the 1.5B shape, docs/quantization.md); int8 keeps 32 (llama.cpp's Q8_0 block).
     */
    public static int defaultBlockSize(Scheme scheme, Collection<Integer> inFeatures) {
        if (scheme != Scheme.INT4) return 32;
        for (int b : new int[]{128, 64, 32, 16}) {
            if (inFeatures.stream().allMatch(k -> k % b == 0)) return b;
        }
        return 32; // refused by check, naming the weight
    }

    /** The one-line refusal for a weight this scheme cannot cut into blocks, or null when it can. */
    public static String check(String name, int n, int k, int blockSize) {
        if (!BLOCK_SIZES.contains(blockSize)) return "block size " + blockSize + " is not one of " + BLOCK_SIZES;
        if (k % blockSize != 0) {
            return name + ": in-features " + k + " are not a multiple of the block size " + blockSize + " (choose --block-size dividing " + k + ")";
        }
        return null;
    }

    /** Quantizes W [n, k] (row-major). */
    public static Quantized quantize(float[] w, int n, int k, Scheme scheme, int blockSize) {
        String bad = check("weight", n, k, blockSize);
        if (bad != null) throw new IllegalArgumentException(bad);
        if (w.length != (long) n * k) throw new IllegalArgumentException("weight has " + w.length + " values, expected " + n + " × " + k);
        int kb = k / blockSize, blob = blockSize * scheme.bits / 8;
        byte[] b = new byte[n * kb * blob];
        float[] scales = new float[n * kb];
        byte[] zps = scheme == Scheme.INT4 ? new byte[n * ((kb + 1) / 2)] : null;
        for (int row = 0; row < n; row++) {
            for (int blk = 0; blk < kb; blk++) {
                int from = row * k + blk * blockSize, out = (row * kb + blk) * blob;
                if (scheme == Scheme.INT8) int8Block(w, from, blockSize, b, out, scales, row * kb + blk);
                else int4Block(w, from, blockSize, b, out, scales, row * kb + blk, zps, row * ((kb + 1) / 2) + blk / 2, (blk & 1) == 1);
            }
        }
        return new Quantized(scheme, n, k, blockSize, b, scales, zps);
    }

    /** Symmetric: scale = max|w| / 127, codes 128 + round(w / scale) in [1, 255]. */
    private static void int8Block(float[] w, int from, int size, byte[] b, int out, float[] scales, int si) {
        float amax = 0;
        for (int j = 0; j < size; j++) amax = Math.max(amax, Math.abs(w[from + j]));
        float scale = amax == 0 ? 1f : amax / 127f;
        scales[si] = scale;
        for (int j = 0; j < size; j++) {
            int q = Math.round(w[from + j] / scale);
            b[out + j] = (byte) (128 + Math.max(-127, Math.min(127, q)));
        }
    }

    /**
     * Asymmetric over [min(0, lo), max(0, hi)] (zero stays exact): scale = range / 15,
     * zero point round(−min / scale) in [0, 15], codes round(w / scale) + zero point in [0, 15].
     */
    private static void int4Block(float[] w, int from, int size, byte[] b, int out, float[] scales, int si,
                                  byte[] zps, int zi, boolean highNibble) {
        float lo = 0, hi = 0;
        for (int j = 0; j < size; j++) {
            lo = Math.min(lo, w[from + j]);
            hi = Math.max(hi, w[from + j]);
        }
        float scale = hi == lo ? 1f : (hi - lo) / 15f;
        int zp = Math.max(0, Math.min(15, Math.round(-lo / scale)));
        scales[si] = scale;
        zps[zi] = (byte) (highNibble ? (zps[zi] & 0x0f) | (zp << 4) : (zps[zi] & 0xf0) | zp);
        for (int j = 0; j < size; j += 2) {
            int c0 = Math.max(0, Math.min(15, Math.round(w[from + j] / scale) + zp));
            int c1 = Math.max(0, Math.min(15, Math.round(w[from + j + 1] / scale) + zp));
            b[out + j / 2] = (byte) (c0 | (c1 << 4));
        }
    }
}
