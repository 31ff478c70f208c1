package dev.tina.export.quant;

import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.onnx.ExternalDataWriter;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.export.onnx.proto.Onnx.GraphProto;
import dev.tina.export.onnx.proto.Onnx.StringStringEntryProto;
import dev.tina.export.onnx.proto.Onnx.TensorProto;
import dev.tina.export.quant.BlockQuantizer.Quantized;
import dev.tina.export.quant.BlockQuantizer.Scheme;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The quantized projections of an export: each weight is read once from the full-precision
 * graph's external data, quantized, and appended to its own data file ({@code model.<scheme>.onnx.data});
 * every quantized graph of the export then points at the same bytes. Weights that stay in full
 * precision (embeddings, norms, biases, and the head unless {@link Settings#head()}) are shared
 * with the full-precision graphs, so the quantized graphs add only the quantized bytes.
 */
public final class QuantizedWeights implements AutoCloseable {
    /**
     * @param accuracyLevel MatMulNBits' {@code accuracy_level}: 4 lets the CPU kernel quantize
     *                      activations to int8 per block and use integer dot products
     */
    public record Settings(Scheme scheme, int blockSize, boolean head, int accuracyLevel) {
        public Settings {
            if (scheme.blockWise() && !BlockQuantizer.BLOCK_SIZES.contains(blockSize)) {
                throw new IllegalArgumentException("--block-size " + blockSize + ": expected one of " + BlockQuantizer.BLOCK_SIZES);
            }
            if (accuracyLevel < 0 || accuracyLevel > 4) throw new IllegalArgumentException("accuracy_level must be in [0, 4], got " + accuracyLevel);
        }

        /** The CPU default: int8 activations (accuracy level 4). */
        public static Settings of(Scheme scheme, int blockSize, boolean head) { return new Settings(scheme, blockSize, head, 4); }

        public String dataFile() { return "model." + scheme.cli() + ".onnx.data"; }

        /** The scheme in words: its blocks (or per-channel scales), the head, the kernel. */
        public String describe() {
            return scheme.cli() + (scheme.blockWise() ? ", block " + blockSize : ", per-channel weights, per-token activations")
                    + (head ? ", head" : "") + (scheme.blockWise() ? ", accuracy_level " + accuracyLevel : "");
        }
    }

    private final Settings settings;
    private final Path dir;
    private final Map<String, TensorProto> fullPrecision = new HashMap<>();
    private final ExternalDataWriter out;
    private final Map<String, List<TensorProto>> written = new HashMap<>();
    private final Map<String, FileChannel> channels = new HashMap<>();
    private long quantizedBytes;

    /** @param fullPrecisionGraph the export's graph whose external initializers hold the weights; {@code dir} holds its data */
    public QuantizedWeights(Settings settings, Path dir, GraphProto fullPrecisionGraph) throws IOException {
        this.settings = settings;
        this.dir = dir;
        for (TensorProto t : fullPrecisionGraph.getInitializerList()) fullPrecision.put(t.getName(), t);
        this.out = new ExternalDataWriter(dir.resolve(settings.dataFile()));
    }

    public Settings settings() { return settings; }

    /** Bytes of B, scales and zero points written so far. */
    public long quantizedBytes() { return quantizedBytes; }

    /** y = x · Wᵀ for the full-precision weight {@code name} [n, k], as a MatMulNBits node (W8A8: integer product) in {@code g}. */
    public String matMul(GraphBuilder g, String x, String name, int n, int k) throws IOException {
        addOnce(g, name, scratch -> {
            if (!settings.scheme().blockWise()) return addChannel(scratch, name, ChannelQuantizer.quantize(read(name, n, k), n, k));
            String bad = BlockQuantizer.check(name, n, k, settings.blockSize());
            if (bad != null) throw new IllegalArgumentException(bad);
            Quantized q = BlockQuantizer.quantize(read(name, n, k), n, k, settings.scheme(), settings.blockSize());
            QuantizedLinear.addInitializers(scratch, name, q);
            return q.b().length + 4L * q.scales().length + (q.zeroPoints() == null ? 0 : q.zeroPoints().length);
        });
        if (!settings.scheme().blockWise()) return ChannelQuantizer.node(g, x, name);
        return QuantizedLinear.node(g, x, name, settings.scheme(), n, k, settings.blockSize(), settings.scheme() == Scheme.INT4,
                settings.accuracyLevel());
    }

    /**
     * Whether projections that read one input are stacked into one product ({@link #matMulStacked}):
     * W8A8, whose per-output-channel scales make each column's result independent of its neighbours.
     */
    public boolean stacks() { return settings.scheme() == Scheme.W8A8; }

    /**
     * y_j = x · W_jᵀ for the full-precision weights {@code names} [ns[j], k] that read the same x,
     * as one W8A8 integer product over the weights side by side (stored once under
     * {@code stackedName}), split back into one output per weight.
     */
    public String[] matMulStacked(GraphBuilder g, String x, String stackedName, List<String> names, int[] ns, int k) throws IOException {
        if (!stacks()) throw new IllegalStateException(settings.scheme().cli() + " does not stack projections");
        if (names.size() != ns.length) throw new IllegalArgumentException(names.size() + " weights, " + ns.length + " widths");
        addOnce(g, stackedName, scratch -> {
            List<ChannelQuantizer.Quantized> parts = new ArrayList<>();
            for (int j = 0; j < ns.length; j++) parts.add(ChannelQuantizer.quantize(read(names.get(j), ns[j], k), ns[j], k));
            return addChannel(scratch, stackedName, ChannelQuantizer.stack(parts));
        });
        return ChannelQuantizer.stackedNodes(g, x, stackedName, ns);
    }

    /** Writes a key's quantized initializers into {@code scratch} (over the data file); returns their bytes. */
    private interface Writer {
        long write(GraphBuilder scratch) throws IOException;
    }

    /**
     * Adds the initializers of {@code key} to {@code g}: quantized and written to the data file the
     * first time (every graph of the export then points at the same bytes), reused after.
     */
    private void addOnce(GraphBuilder g, String key, Writer writer) throws IOException {
        List<TensorProto> ts = written.get(key);
        if (ts == null) {
            GraphBuilder scratch = new GraphBuilder("quantized", out); // writes the bytes; its protos are kept
            quantizedBytes += writer.write(scratch);
            ts = scratch.build().getInitializerList();
            written.put(key, ts);
        }
        for (TensorProto t : ts) if (!g.hasInitializer(t.getName())) g.addInitializer(t);
    }

    private static long addChannel(GraphBuilder scratch, String name, ChannelQuantizer.Quantized q) throws IOException {
        ChannelQuantizer.addInitializers(scratch, name, q);
        return q.b().length + 4L * q.scales().length;
    }

    /** The weight's values as float32, from its external data (stored as float32, float16 or bfloat16). */
    private float[] read(String name, int n, int k) throws IOException {
        TensorProto t = fullPrecision.get(name);
        if (t == null) throw new CheckpointFormatException("no weight '" + name + "' to quantize in the export");
        if (t.getDataLocation() != TensorProto.DataLocation.EXTERNAL) throw new CheckpointFormatException("weight '" + name + "' is not external data");
        Map<String, String> ext = new HashMap<>();
        for (StringStringEntryProto e : t.getExternalDataList()) ext.put(e.getKey(), e.getValue());
        DType dtype = null;
        for (DType d : DType.values()) if (d.onnxCode() == t.getDataType()) dtype = d;
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) {
            throw new CheckpointFormatException("weight '" + name + "' has ONNX data type " + t.getDataType() + "; expected float32, float16 or bfloat16");
        }
        long offset = Long.parseLong(ext.getOrDefault("offset", "0")), length = Long.parseLong(ext.get("length"));
        if (length != (long) n * k * dtype.byteSize()) {
            throw new CheckpointFormatException("weight '" + name + "' holds " + length + " bytes, expected " + n + " × " + k + " × " + dtype.byteSize());
        }
        FileChannel ch = channels.get(ext.get("location"));
        if (ch == null) {
            ch = FileChannel.open(dir.resolve(ext.get("location")), StandardOpenOption.READ);
            channels.put(ext.get("location"), ch);
        }
        MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_ONLY, offset, length);
        m.order(ByteOrder.LITTLE_ENDIAN);
        float[] w = new float[n * k];
        for (int i = 0; i < w.length; i++) {
            w[i] = switch (dtype) {
                case F32 -> m.getFloat();
                case F16 -> Float.float16ToFloat(m.getShort());
                default -> Float.intBitsToFloat((m.getShort() & 0xffff) << 16);
            };
        }
        return w;
    }

    @Override
    public void close() throws IOException {
        try {
            out.close();
        } finally {
            for (FileChannel ch : channels.values()) ch.close();
        }
    }
}
