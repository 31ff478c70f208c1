package dev.tina.export.quant;

import dev.tina.export.checkpoint.DType;
import dev.tina.export.onnx.GraphBuilder;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

import static dev.tina.export.onnx.GraphBuilder.attr;
import static dev.tina.export.onnx.GraphBuilder.attrInts;

/**
 * The {@link BlockQuantizer.Scheme#W8A8} projection y = x · Wᵀ in integer arithmetic:
 * <ul>
 *   <li>W [N, K] (the checkpoint's [out, in]) as int8 B [K, N] (transposed, for
 *       {@code MatMulInteger}'s A·B), symmetric with one scale per output channel,
 *       s_n = max_k |W[n, k]| / 127, codes round(W / s_n) in [−127, 127];</li>
 *   <li>x quantized in the graph, one scale per row (token): r = max |x_row| / 127, a = round(x / r) + 128
 *       as uint8 with zero point 128 (ONNX Runtime's fast integer GEMM takes uint8 × int8);</li>
 *   <li>y = (Σ_k (a − 128) · B) · r · s, the products summed exactly in int32.</li>
 * </ul>
 * The rows' scales are made once per input and shared by the projections that read it (q, k, v;
 * gate, up). ONNX Runtime's {@code DynamicQuantizeMatMul} is as fast but takes one activation scale
 * for the whole tensor, so one outlier token (a prompt's first) would coarsen every other token's
 * codes, and a row's result would depend on the other rows of its batch: rows are scaled alone here.
 * Written by hand: no Java library writes this layout.
 */
public final class ChannelQuantizer {
    private ChannelQuantizer() {}

    /** One quantized weight: B int8 [k, n] row-major, scales [n]. */
    public record Quantized(int n, int k, byte[] b, float[] scales) {
        /** W as the graph sees it, [n, k] row-major (tests, error reports). */
        public float[] dequantize() {
            float[] w = new float[n * k];
            for (int row = 0; row < n; row++) for (int j = 0; j < k; j++) w[row * k + j] = b[j * n + row] * scales[row];
            return w;
        }
    }

    /** Quantizes W [n, k] (row-major). */
    public static Quantized quantize(float[] w, int n, int k) {
        if (w.length != (long) n * k) throw new IllegalArgumentException("weight has " + w.length + " values, expected " + n + " × " + k);
        byte[] b = new byte[n * k];
        float[] scales = new float[n];
        for (int row = 0; row < n; row++) {
            float amax = 0;
            for (int j = 0; j < k; j++) amax = Math.max(amax, Math.abs(w[row * k + j]));
            float s = amax == 0 ? 1f : amax / 127f;
            scales[row] = s;
            for (int j = 0; j < k; j++) b[j * n + row] = (byte) Math.max(-127, Math.min(127, Math.round(w[row * k + j] / s)));
        }
        return new Quantized(n, k, b, scales);
    }

    /**
     * Weights that read the same input, side by side along the output axis: B [k, Σn] whose columns
     * are each part's in order, and their scales. Each part keeps its own per-channel scales, so
     * every output column is computed as it was apart.
     */
    public static Quantized stack(List<Quantized> parts) {
        if (parts.isEmpty()) throw new IllegalArgumentException("nothing to stack");
        int k = parts.getFirst().k(), n = 0;
        for (Quantized p : parts) {
            if (p.k() != k) throw new IllegalArgumentException("stacked weights read " + k + " and " + p.k() + " features");
            n += p.n();
        }
        byte[] b = new byte[n * k];
        float[] scales = new float[n];
        int col = 0;
        for (Quantized p : parts) {
            for (int j = 0; j < k; j++) System.arraycopy(p.b(), j * p.n(), b, j * n + col, p.n());
            System.arraycopy(p.scales(), 0, scales, col, p.n());
            col += p.n();
        }
        return new Quantized(n, k, b, scales);
    }

    public static String bName(String name) { return name + "/w8_b"; }

    public static String scalesName(String name) { return name + "/w8_scales"; }

    /** Adds q's initializers (to the builder's external data, if any) under {@code name}. */
    public static void addInitializers(GraphBuilder g, String name, Quantized q) throws IOException {
        QuantizedLinear.addBytes(g, bName(name), DType.I8, q.b(), q.k(), q.n());
        QuantizedLinear.addFloats(g, scalesName(name), q.scales(), q.n());
    }

    /** y = x · Wᵀ over initializers already added for {@code name}; x [..., k] float. */
    public static String node(GraphBuilder g, String x, String name) {
        // x's codes and row scales, once per input (q, k and v read the same normed rows)
        String[] a = g.memo("w8a8_rows/" + x, () -> codes(g, x));
        String acc = g.op("MatMulInteger", List.of(a[0], bName(name), g.constUint8(128)));
        return g.op("Mul", List.of(g.op("Mul", List.of(g.op("Cast", List.of(acc), attr("to", (long) GraphBuilder.FLOAT)), a[1])), scalesName(name)));
    }

    /** The products of {@link #stack}ed weights (initializers added under {@code name}), split back into one output per part of width {@code ns[j]}. */
    public static String[] stackedNodes(GraphBuilder g, String x, String name, int[] ns) {
        long[] widths = new long[ns.length];
        for (int j = 0; j < ns.length; j++) widths[j] = ns[j];
        return g.opMulti("", "Split", ns.length, List.of(node(g, x, name), g.constInt64(widths)), attr("axis", -1L));
    }

    /** uint8 codes (zero point 128) of t [..., f] and its scales [..., 1]: max |t| / 127 over the last axis. */
    private static String[] codes(GraphBuilder g, String t) {
        String amax = g.op("ReduceMax", List.of(g.op("Abs", List.of(t))), attrInts("axes", -1), attr("keepdims", 1L));
        // an all-zero row gets scale 1 (its codes are 0 either way)
        String r = g.op("Div", List.of(g.op("Max", List.of(amax, g.constFloat(Float.MIN_NORMAL))), g.constFloat(127f)));
        String codes = g.op("Cast", List.of(g.op("Add", List.of(g.op("Round", List.of(g.op("Div", List.of(t, r)))), g.constFloat(128f)))),
                attr("to", (long) DType.U8.onnxCode()));
        return new String[]{codes, r};
    }

    /** Initializers and node in one call (tests, small graphs). */
    public static String matMul(GraphBuilder g, String x, String name, Quantized q) {
        try {
            addInitializers(g, name, q);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return node(g, x, name);
    }

}
