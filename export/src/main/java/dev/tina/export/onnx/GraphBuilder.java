package dev.tina.export.onnx;

import com.google.protobuf.ByteString;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.SafetensorsWriter;
import dev.tina.export.onnx.proto.Onnx.AttributeProto;
import dev.tina.export.ToolVersion;
import dev.tina.export.onnx.proto.Onnx.GraphProto;
import dev.tina.export.onnx.proto.Onnx.ModelProto;
import dev.tina.export.onnx.proto.Onnx.NodeProto;
import dev.tina.export.onnx.proto.Onnx.OperatorSetIdProto;
import dev.tina.export.onnx.proto.Onnx.StringStringEntryProto;
import dev.tina.export.onnx.proto.Onnx.TensorProto;
import dev.tina.export.onnx.proto.Onnx.TensorShapeProto;
import dev.tina.export.onnx.proto.Onnx.TypeProto;
import dev.tina.export.onnx.proto.Onnx.ValueInfoProto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A small typed builder for ONNX graphs. Nodes get hierarchical names from the current scope
 * ({@code /model/layers.0/attn/q_proj/Gemm}); small constants are shared by value; large weights
 * go to an external-data file as they are added, so the protobuf itself stays small.
 */
public final class GraphBuilder {
    public static final int FLOAT = 1, INT32 = 6, INT64 = 7, BOOL = 9;

    private final GraphProto.Builder graph = GraphProto.newBuilder();
    private final ExternalDataWriter external;
    private final String externalLocation;
    private final Deque<String> scope = new ArrayDeque<>();
    private final Map<String, String> constants = new HashMap<>();
    private final Set<String> usedNames = new HashSet<>();
    private final Set<String> initializers = new HashSet<>();
    private final Map<String, long[]> int64Constants = new HashMap<>();
    private final Map<String, String[]> memos = new HashMap<>();
    /** Node output → inputs that no broadcasting expands (see {@link #unbroadcast}). */
    private final Map<String, Set<Integer>> unbroadcast = new HashMap<>();
    /** Outputs of Gathers whose indices never repeat (see {@link #uniqueIndices}). */
    private final Set<String> uniqueIndices = new HashSet<>();

    /** @param external where weights go; null keeps every initializer inline (tests, small graphs) */
    public GraphBuilder(String name, ExternalDataWriter external) {
        graph.setName(name);
        this.external = external;
        this.externalLocation = external == null ? null : external.file().getFileName().toString();
    }

    /** A naming scope; closing it (try-with-resources) leaves it. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    public Scope scope(String name) {
        scope.addLast(name);
        return scope::removeLast;
    }

    private String uniqueName(String base) {
        String name = base;
        for (int k = 1; !usedNames.add(name); k++) name = base + "_" + k;
        return name;
    }

    private String prefix() {
        return "/" + String.join("/", scope);
    }

    /**
     * Records that no broadcasting expands inputs {@code inputs} of the node that produced
     * {@code output} (elementwise: the input has the output's shape; MatMul: its batch dimensions
     * are the output's), so a gradient flowing back to them already has their shape and needs no
     * reduction. Only a hint for the gradient builder, whose generic reduction (a copy when nothing
     * is reduced) is then left out; a wrong hint gives gradients of the wrong shape, which the
     * parity tests catch. Returns {@code output}.
     */
    public String unbroadcast(String output, int... inputs) {
        Set<Integer> set = unbroadcast.computeIfAbsent(output, k -> new HashSet<>());
        for (int i : inputs) set.add(i);
        return output;
    }

    /** Whether input {@code input} of the node producing {@code output} was marked by {@link #unbroadcast}. */
    public boolean isUnbroadcast(String output, int input) {
        Set<Integer> set = unbroadcast.get(output);
        return set != null && set.contains(input);
    }

    /**
     * Records that the Gather which produced {@code output} never reads a row twice (e.g. the
     * targets' positions), so its gradient can write each row instead of summing into it. Only a
     * hint for the gradient builder; a wrong one loses gradient where an index repeats, which the
     * parity tests catch. Returns {@code output}.
     */
    public String uniqueIndices(String output) {
        uniqueIndices.add(output);
        return output;
    }

    /** Whether {@link #uniqueIndices} marked the Gather producing {@code output}. */
    public boolean hasUniqueIndices(String output) { return uniqueIndices.contains(output); }

    /** One node with one output; returns the output name. */
    public String op(String opType, List<String> inputs, AttributeProto... attrs) {
        return opNamed(opType, null, inputs, attrs);
    }

    /** One node whose single output gets {@code outputName} (e.g. a graph output); null picks one. */
    public String opNamed(String opType, String outputName, List<String> inputs, AttributeProto... attrs) {
        return opDomain("", opType, outputName, inputs, attrs);
    }

    public String opDomain(String domain, String opType, String outputName, List<String> inputs, AttributeProto... attrs) {
        String nodeName = uniqueName(prefix() + "/" + opType);
        String out = outputName != null ? outputName : nodeName + "/output_0";
        graph.addNode(NodeProto.newBuilder().setName(nodeName).setOpType(opType).setDomain(domain)
                .addAllInput(inputs).addOutput(out).addAllAttribute(Arrays.asList(attrs)));
        return out;
    }

    /** One node with {@code outputs} outputs; returns their names. */
    public String[] opMulti(String domain, String opType, int outputs, List<String> inputs, AttributeProto... attrs) {
        String nodeName = uniqueName(prefix() + "/" + opType);
        String[] out = new String[outputs];
        for (int i = 0; i < outputs; i++) out[i] = nodeName + "/output_" + i;
        graph.addNode(NodeProto.newBuilder().setName(nodeName).setOpType(opType).setDomain(domain)
                .addAllInput(inputs).addAllOutput(Arrays.asList(out)).addAllAttribute(Arrays.asList(attrs)));
        return out;
    }

    /** One node whose outputs get the given names (a null entry gets a generated one); returns them. */
    public String[] opOutputs(String domain, String opType, List<String> outputNames, List<String> inputs, AttributeProto... attrs) {
        String nodeName = uniqueName(prefix() + "/" + opType);
        String[] out = new String[outputNames.size()];
        for (int i = 0; i < out.length; i++) out[i] = outputNames.get(i) != null ? outputNames.get(i) : nodeName + "/output_" + i;
        graph.addNode(NodeProto.newBuilder().setName(nodeName).setOpType(opType).setDomain(domain)
                .addAllInput(inputs).addAllOutput(Arrays.asList(out)).addAllAttribute(Arrays.asList(attrs)));
        return out;
    }

    public static AttributeProto attr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    public static AttributeProto attr(String name, String v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(v)).build();
    }

    public static AttributeProto attr(String name, float v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(v).build();
    }

    public static AttributeProto attrInts(String name, long... v) {
        var b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long x : v) b.addInts(x);
        return b.build();
    }

    /** An int64 constant vector, shared with every other use of the same values. */
    public String constInt64(long... values) {
        String key = "i64" + Arrays.toString(values);
        return constants.computeIfAbsent(key, k -> {
            String name = uniqueName("/const/int64_" + String.join("_", Arrays.stream(values).mapToObj(v -> v < 0 ? "m" + -v : "" + v).toList()));
            var t = TensorProto.newBuilder().setName(name).setDataType(INT64).addDims(values.length);
            for (long v : values) t.addInt64Data(v);
            graph.addInitializer(t);
            initializers.add(name);
            int64Constants.put(name, values.clone());
            return name;
        });
    }

    /**
     * Values computed once per graph and shared by several call sites (like the constants): the
     * first call for {@code key} builds them with {@code make}, later calls get the same names.
     */
    public String[] memo(String key, Supplier<String[]> make) {
        return memos.computeIfAbsent(key, k -> make.get()).clone();
    }

    /** An int32 [n] constant (shared by value). */
    public String constInt32(int... values) {
        return constants.computeIfAbsent("i32" + Arrays.toString(values), k -> {
            String name = uniqueName("/const/int32_" + String.join("_", Arrays.stream(values).mapToObj(v -> v < 0 ? "m" + -v : "" + v).toList()));
            var t = TensorProto.newBuilder().setName(name).setDataType(INT32).addDims(values.length);
            for (int v : values) t.addInt32Data(v);
            graph.addInitializer(t);
            initializers.add(name);
            return name;
        });
    }

    /** A uint8 scalar (rank 0) constant (a zero point). */
    public String constUint8(int value) {
        if (value < 0 || value > 255) throw new IllegalArgumentException("uint8 constant out of range: " + value);
        return constants.computeIfAbsent("u8" + value, k -> {
            String name = uniqueName("/const/uint8_" + value);
            graph.addInitializer(TensorProto.newBuilder().setName(name).setDataType(2).setRawData(ByteString.copyFrom(new byte[]{(byte) value})));
            initializers.add(name);
            return name;
        });
    }

    /** An int64 scalar (rank 0) constant, as Range wants. */
    public String constInt64Scalar(long value) {
        return constants.computeIfAbsent("i64s" + value, k -> {
            String name = uniqueName("/const/int64_scalar_" + value);
            graph.addInitializer(TensorProto.newBuilder().setName(name).setDataType(INT64).addInt64Data(value));
            initializers.add(name);
            return name;
        });
    }

    /** Whether {@code name} is this builder's {@link #constFloat} of {@code value}. */
    public boolean isConstFloat(String name, float value) {
        return name.equals(constants.get("f32" + Float.floatToRawIntBits(value)));
    }

    /** A float scalar constant (rank 0). */
    public String constFloat(float value) {
        return constants.computeIfAbsent("f32" + Float.floatToRawIntBits(value), k -> {
            String name = uniqueName("/const/float_" + value);
            graph.addInitializer(TensorProto.newBuilder().setName(name).setDataType(FLOAT).addFloatData(value));
            initializers.add(name);
            return name;
        });
    }

    /** A float vector constant stored inline. */
    public String constFloats(String name, float[] values) {
        String unique = uniqueName(name);
        ByteBuffer raw = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) raw.putFloat(v);
        graph.addInitializer(TensorProto.newBuilder().setName(unique).setDataType(FLOAT).addDims(values.length)
                .setRawData(ByteString.copyFrom(raw.array())));
        initializers.add(unique);
        return unique;
    }

    /** A float tensor constant of shape {@code dims} (row-major values), stored inline. */
    public String constFloats(String name, float[] values, long... dims) {
        long n = 1;
        for (long d : dims) n *= d;
        if (n != values.length) throw new IllegalArgumentException(name + ": " + values.length + " values for shape " + Arrays.toString(dims));
        String unique = uniqueName(name);
        ByteBuffer raw = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) raw.putFloat(v);
        var t = TensorProto.newBuilder().setName(unique).setDataType(FLOAT).setRawData(ByteString.copyFrom(raw.array()));
        for (long d : dims) t.addDims(d);
        graph.addInitializer(t);
        initializers.add(unique);
        return unique;
    }

    /**
     * A weight initializer whose bytes are streamed by {@code content} into the external-data file
     * (or kept inline when the builder has none).
     */
    public String weight(String name, DType dtype, long[] shape, long byteSize, SafetensorsWriter.Content content) throws IOException {
        if (!usedNames.add(name)) throw new IllegalArgumentException("duplicate initializer '" + name + "'");
        var t = TensorProto.newBuilder().setName(name).setDataType(dtype.onnxCode());
        for (long d : shape) t.addDims(d);
        if (external != null) {
            long offset = external.append(byteSize, content);
            t.setDataLocation(TensorProto.DataLocation.EXTERNAL)
                    .addExternalData(entry("location", externalLocation))
                    .addExternalData(entry("offset", Long.toString(offset)))
                    .addExternalData(entry("length", Long.toString(byteSize)));
        } else {
            var sink = new java.io.ByteArrayOutputStream();
            content.writeTo(java.nio.channels.Channels.newChannel(sink));
            t.setRawData(ByteString.copyFrom(sink.toByteArray()));
        }
        graph.addInitializer(t);
        initializers.add(name);
        return name;
    }

    /** Adds an initializer as given (e.g. one that points at an existing external-data file). */
    public void addInitializer(TensorProto t) {
        if (!usedNames.add(t.getName())) throw new IllegalArgumentException("duplicate initializer '" + t.getName() + "'");
        graph.addInitializer(t);
        initializers.add(t.getName());
    }

    public boolean hasInitializer(String name) { return initializers.contains(name); }

    /** The values of an int64 constant this builder made, or null. */
    public long[] int64Constant(String name) {
        long[] v = int64Constants.get(name);
        return v == null ? null : v.clone();
    }

    /** The nodes so far, in order (topological, as built). */
    public List<NodeProto> nodes() { return graph.getNodeList(); }

    /** A fresh, unused value or node name with the given stem. */
    public String freshName(String stem) { return uniqueName(stem); }

    static StringStringEntryProto entry(String k, String v) {
        return StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
    }

    /** Declares a graph input; dims are Integer/Long (fixed) or String (symbolic). */
    public void input(String name, int elemType, Object... dims) {
        usedNames.add(name);
        graph.addInput(valueInfo(name, elemType, dims));
    }

    /** Declares a graph input that is a sequence of tensors (optimizer graphs). */
    public void inputSequence(String name, int elemType) {
        usedNames.add(name);
        graph.addInput(ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setSequenceType(
                TypeProto.Sequence.newBuilder().setElemType(TypeProto.newBuilder().setTensorType(
                        TypeProto.Tensor.newBuilder().setElemType(elemType))))).build());
    }

    public void output(String name, int elemType, Object... dims) {
        graph.addOutput(valueInfo(name, elemType, dims));
    }

    static ValueInfoProto valueInfo(String name, int elemType, Object... dims) {
        var shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            var dim = TensorShapeProto.Dimension.newBuilder();
            if (d instanceof String s) dim.setDimParam(s);
            else dim.setDimValue(((Number) d).longValue());
            shape.addDim(dim);
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape))).build();
    }

    /** The ONNX IR version and default-domain opset of every model tina writes. */
    public static final int IR_VERSION = 8, OPSET = 17;

    /**
     * The one model header for a graph: IR 8, opset 17 and ONNX Runtime's {@code com.microsoft}
     * domain (contrib and gradient kernels), producer tina-java and its version.
     */
    public static ModelProto.Builder model(GraphProto graph) {
        return ModelProto.newBuilder()
                .setIrVersion(IR_VERSION)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
                .setProducerName("tina-java")
                .setProducerVersion(ToolVersion.VERSION)
                .setGraph(graph);
    }

    public GraphProto build() {
        return graph.build();
    }
}
