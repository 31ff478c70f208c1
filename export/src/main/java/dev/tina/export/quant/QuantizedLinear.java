package dev.tina.export.quant;

import dev.tina.export.checkpoint.DType;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.export.quant.BlockQuantizer.Quantized;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static dev.tina.export.onnx.GraphBuilder.attr;

/** A projection y = x · Wᵀ on a block-quantized W: one {@code com.microsoft.MatMulNBits} node. */
public final class QuantizedLinear {
    private QuantizedLinear() {}

    /** Initializer names of a quantized weight {@code name}: B, scales, zero points. */
    public static String bName(String name) { return name + "/q_b"; }

    public static String scalesName(String name) { return name + "/q_scales"; }

    public static String zeroPointsName(String name) { return name + "/q_zero_points"; }

    /** Adds q's initializers (to the builder's external data, if any) under {@code name}. */
    public static void addInitializers(GraphBuilder g, String name, Quantized q) throws IOException {
        g.weight(bName(name), DType.U8, new long[]{q.n(), q.blocks(), q.blobSize()}, q.b().length, out -> writeFully(out, ByteBuffer.wrap(q.b())));
        ByteBuffer s = ByteBuffer.allocate(q.scales().length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : q.scales()) s.putFloat(v);
        g.weight(scalesName(name), DType.F32, new long[]{q.scales().length}, s.capacity(), out -> writeFully(out, s.flip()));
        if (q.zeroPoints() != null) {
            g.weight(zeroPointsName(name), DType.U8, new long[]{q.zeroPoints().length}, q.zeroPoints().length,
                    out -> writeFully(out, ByteBuffer.wrap(q.zeroPoints())));
        }
    }

    /** The node over initializers already added for {@code name} (see {@link #addInitializers}). */
    public static String node(GraphBuilder g, String x, String name, BlockQuantizer.Scheme scheme, int n, int k, int blockSize,
                              boolean zeroPoints, int accuracyLevel) {
        List<String> in = new ArrayList<>(List.of(x, bName(name), scalesName(name)));
        if (zeroPoints) in.add(zeroPointsName(name));
        return g.opDomain("com.microsoft", "MatMulNBits", null, in,
                attr("K", (long) k), attr("N", (long) n), attr("bits", (long) scheme.bits), attr("block_size", (long) blockSize),
                attr("accuracy_level", (long) accuracyLevel));
    }

    /** Initializers and node in one call (tests, small graphs). */
    public static String matMul(GraphBuilder g, String x, String name, Quantized q, int accuracyLevel) {
        try {
            addInitializers(g, name, q);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return node(g, x, name, q.scheme(), q.n(), q.k(), q.blockSize(), q.zeroPoints() != null, accuracyLevel);
    }

    private static void writeFully(java.nio.channels.WritableByteChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) out.write(b);
    }
}
