package dev.tina.training.autodiff;

import dev.tina.export.onnx.GraphBuilder;
import dev.tina.export.onnx.proto.Onnx.AttributeProto;
import dev.tina.export.onnx.proto.Onnx.NodeProto;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.tina.export.onnx.GraphBuilder.attr;
import static dev.tina.export.onnx.GraphBuilder.attrInts;

/**
 * Reverse-mode differentiation of an ONNX graph built with {@link GraphBuilder}: appends to the
 * graph the nodes that compute d loss / d p for each requested graph input p (the LoRA factors),
 * walking the forward nodes backwards and applying one rule per op type ({@link #RULES}).
 *
 * <p>Only values that depend on a parameter and lead to the loss get gradients, so the frozen base
 * weights cost nothing in the backward pass. Shapes are taken at run time ({@code Shape} nodes),
 * so the rules need no static shape inference; broadcasting is undone the way ONNX Runtime's own
 * gradient builder does it ({@code BroadcastGradientArgs}, {@code ReduceSum}, {@code Reshape}),
 * and a few of its {@code *Grad} kernels (com.microsoft) stand in for ops with no standard
 * inverse. The result therefore needs ONNX Runtime's training build.
 */
public final class GradientBuilder {
    public static final String MS = "com.microsoft";

    /** One op's gradient: given the node and the gradients of its outputs, contribute to its inputs'. */
    @FunctionalInterface
    interface Rule {
        void apply(GradientBuilder b, NodeProto n, String[] dy);
    }

    static final Map<String, Rule> RULES = rules();
    /** Ops whose outputs never carry gradient (indices, shapes, masks). */
    static final Set<String> NON_DIFFERENTIABLE = Set.of("Shape", "Size", "Range", "Less", "LessOrEqual", "Greater",
            "GreaterOrEqual", "Equal", "And", "Or", "Not", "ConstantOfShape", "ArgMax");

    private final GraphBuilder g;
    private final Map<String, List<String>> contributions = new LinkedHashMap<>();
    private final Set<String> active = new HashSet<>();

    private GradientBuilder(GraphBuilder g) {
        this.g = g;
    }

    /**
     * Appends the backward pass for {@code loss} (a scalar) with respect to {@code params}; returns
     * param name → gradient value name (a param the loss does not depend on is absent).
     */
    public static Map<String, String> build(GraphBuilder g, String loss, List<String> params) {
        GradientBuilder b = new GradientBuilder(g);
        List<NodeProto> forward = new ArrayList<>(g.nodes());
        Set<String> leads = leadingTo(forward, loss);
        for (String v : dependingOn(forward, params)) if (leads.contains(v)) b.active.add(v);
        try (var s = g.scope("grad")) {
            b.emit(forward, loss);
            Map<String, String> out = new LinkedHashMap<>();
            for (String p : params) {
                String grad = b.gradientOf(p);
                if (grad != null) out.put(p, grad);
            }
            return out;
        }
    }

    /** Values that depend on a parameter (forward order: nodes are topologically sorted). */
    private static Set<String> dependingOn(List<NodeProto> forward, List<String> params) {
        Set<String> dependent = new HashSet<>(params);
        for (NodeProto n : forward) {
            if (NON_DIFFERENTIABLE.contains(n.getOpType())) continue;
            for (String in : n.getInputList()) {
                if (dependent.contains(in)) {
                    dependent.addAll(n.getOutputList());
                    break;
                }
            }
        }
        return dependent;
    }

    /** Values the loss is computed from. */
    private static Set<String> leadingTo(List<NodeProto> forward, String loss) {
        Set<String> leads = new HashSet<>(List.of(loss));
        for (int i = forward.size() - 1; i >= 0; i--) {
            NodeProto n = forward.get(i);
            if (n.getOutputList().stream().anyMatch(leads::contains)) leads.addAll(n.getInputList());
        }
        return leads;
    }

    /** Walks the forward nodes backwards from d loss = 1, applying each op's rule where gradient flows. */
    private void emit(List<NodeProto> forward, String loss) {
        contributions.computeIfAbsent(loss, k -> new ArrayList<>())
                .add(g.op("ConstantOfShape", List.of(g.op("Shape", List.of(loss))), onesAttr()));
        for (int i = forward.size() - 1; i >= 0; i--) {
            NodeProto n = forward.get(i);
            String[] dy = new String[n.getOutputCount()];
            boolean any = false;
            for (int k = 0; k < dy.length; k++) {
                dy[k] = gradientOf(n.getOutput(k));
                any |= dy[k] != null;
            }
            if (!any || n.getInputList().stream().noneMatch(active::contains)) continue;
            Rule rule = RULES.get(n.getOpType());
            if (rule == null) {
                throw new IllegalStateException("no gradient rule for op " + n.getOpType() + " (node " + n.getName() + ")");
            }
            rule.apply(this, n, dy);
        }
    }

    private static AttributeProto onesAttr() {
        var t = dev.tina.export.onnx.proto.Onnx.TensorProto.newBuilder().setDataType(GraphBuilder.FLOAT).addDims(1).addFloatData(1f);
        return AttributeProto.newBuilder().setName("value").setType(AttributeProto.AttributeType.TENSOR).setT(t).build();
    }

    /** The summed gradient of a value, or null when nothing flows into it. */
    private String gradientOf(String value) {
        List<String> parts = contributions.get(value);
        if (parts == null || parts.isEmpty()) return null;
        if (parts.size() > 1) {
            String sum = g.op("Sum", parts);
            parts.clear();
            parts.add(sum);
        }
        return parts.getFirst();
    }

    boolean needs(String value) { return active.contains(value); }

    /** Adds {@code grad} to the gradient of {@code value} if that value needs one. */
    void add(String value, String grad) {
        if (needs(value)) contributions.computeIfAbsent(value, k -> new ArrayList<>()).add(grad);
    }

    String op(String type, List<String> in, AttributeProto... attrs) { return g.op(type, in, attrs); }

    String ms(String type, List<String> in, AttributeProto... attrs) { return g.opDomain(MS, type, null, in, attrs); }

    String shape(String x) { return g.op("Shape", List.of(x)); }

    String[] multi(String type, int outputs, List<String> in, AttributeProto... attrs) { return g.opMulti("", type, outputs, in, attrs); }

    String one() { return g.constFloat(1f); }

    String constF(float v) { return g.constFloat(v); }

    boolean isConstF(String name, float v) { return g.isConstFloat(name, v); }

    boolean hasUniqueIndices(String output) { return g.hasUniqueIndices(output); }

    String ints(long... v) { return g.constInt64(v); }

    long[] constInts(String name) { return g.int64Constant(name); }

    /**
     * {@code t}, the gradient of node {@code n}'s output, for its input {@code input}: unchanged where
     * the graph builder marked that input as not broadcast ({@code GraphBuilder.unbroadcast}),
     * otherwise {@link #reduceTo(String, String) summed down} to its shape.
     */
    String reduceTo(String t, NodeProto n, int input) {
        return g.isUnbroadcast(n.getOutput(0), input) ? t : reduceTo(t, n.getInput(input));
    }

    /**
     * {@code t} (the shape of a broadcast result) summed down to the shape of {@code x}: the axes
     * come from {@code BroadcastGradientArgs} at run time, so any broadcasting works.
     */
    String reduceTo(String t, String x) {
        String[] axes = g.opMulti(MS, "BroadcastGradientArgs", 2, List.of(shape(x), shape(t)));
        String summed = op("ReduceSum", List.of(t, axes[0]), attr("keepdims", 1L), attr("noop_with_empty_axes", 1L));
        return op("Reshape", List.of(summed, shape(x)));
    }

    static long attrInt(NodeProto n, String name, long dflt) {
        for (AttributeProto a : n.getAttributeList()) if (a.getName().equals(name)) return a.getI();
        return dflt;
    }

    static float attrFloat(NodeProto n, String name, float dflt) {
        for (AttributeProto a : n.getAttributeList()) if (a.getName().equals(name)) return a.getF();
        return dflt;
    }

    static long[] attrInts(NodeProto n, String name) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals(name)) return a.getIntsList().stream().mapToLong(Long::longValue).toArray();
        }
        return null;
    }

    private static Map<String, Rule> rules() {
        Map<String, Rule> r = new HashMap<>();
        GradientRules.register(r);
        return Map.copyOf(r);
    }
}
