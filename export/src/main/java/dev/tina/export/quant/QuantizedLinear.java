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
        addBytes(g, bName(name), DType.U8, q.b(), q.n(), q.blocks(), q.blobSize());
        addFloats(g, scalesName(name), q.scales(), q.scales().length);
        if (q.zeroPoints() != null) addBytes(g, zeroPointsName(name), DType.U8, q.zeroPoints(), q.zeroPoints().length);
    }

    /** A one-byte-per-value initializer (uint8 or int8) of {@code shape}, to the builder's external data if any. */
    static void addBytes(GraphBuilder g, String name, DType type, byte[] bytes, long... shape) throws IOException {
        g.weight(name, type, shape, bytes.length, out -> writeFully(out, ByteBuffer.wrap(bytes)));
    }

    /** A float32 initializer of {@code shape} (little-endian), to the builder's external data if any. */
    static void addFloats(GraphBuilder g, String name, float[] values, long... shape) throws IOException {
        ByteBuffer s = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) s.putFloat(v);
        g.weight(name, DType.F32, shape, s.capacity(), out -> writeFully(out, s.flip()));
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
