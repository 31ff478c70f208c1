package dev.tina.training.autodiff;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.export.onnx.proto.Onnx.ModelProto;
import dev.tina.export.onnx.proto.Onnx.OperatorSetIdProto;
import dev.tina.training.ort.TrainingNatives;
import org.junit.jupiter.api.Test;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.BiFunction;

import static dev.tina.export.onnx.GraphBuilder.attr;
import static dev.tina.export.onnx.GraphBuilder.attrInts;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every gradient rule against central finite differences: a graph z = op(x, y), the loss
 * Σ z ⊙ r for a fixed random r, the gradient graph appended by {@link GradientBuilder}, all run
 * by ONNX Runtime's training build.
 */
class GradientRulesTest {
    static final OrtEnvironment ENV = TrainingNatives.requireTraining();

    record In(String name, long[] shape, float[] values) {}

    /** Checks d loss / d each float input against finite differences; {@code fixed} are extra non-differentiated int64 inputs. */
    static void check(String label, List<In> inputs, Map<String, long[][]> fixed, long[] outShape,
                      BiFunction<GraphBuilder, List<String>, String> forward) throws Exception {
        GraphBuilder g = new GraphBuilder("t", null);
        List<String> names = new ArrayList<>();
        for (In in : inputs) {
            Object[] dims = Arrays.stream(in.shape()).boxed().toArray();
            g.input(in.name(), GraphBuilder.FLOAT, dims);
            names.add(in.name());
        }
        for (var f : fixed.entrySet()) {
            g.input(f.getKey(), GraphBuilder.INT64, Arrays.stream(f.getValue()[0]).boxed().toArray());
        }
        g.input("r", GraphBuilder.FLOAT, Arrays.stream(outShape).boxed().toArray());
        String z = forward.apply(g, names);
        String loss = g.opNamed("ReduceSum", "loss", List.of(g.op("Mul", List.of(z, "r"))), attr("keepdims", 0L));
        Map<String, String> grads = GradientBuilder.build(g, loss, names);
        g.output("loss", GraphBuilder.FLOAT);
        for (String n : names) {
            g.opNamed("Identity", "grad." + n, List.of(grads.get(n)));
            g.output("grad." + n, GraphBuilder.FLOAT);
        }
        byte[] model = ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(GradientBuilder.MS).setVersion(1))
                .setGraph(g.build()).build().toByteArray();
        SplittableRandom rng = new SplittableRandom(label.hashCode());
        float[] r = new float[(int) Arrays.stream(outShape).reduce(1, (a, b) -> a * b)];
        for (int i = 0; i < r.length; i++) r[i] = (float) rng.nextDouble(-1, 1);
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
             OrtSession s = ENV.createSession(model, o)) {
            Map<String, float[]> values = new LinkedHashMap<>();
            for (In in : inputs) values.put(in.name(), in.values().clone());
            Map<String, float[]> analytic = new LinkedHashMap<>();
            try (OrtSession.Result res = run(s, inputs, values, fixed, r, outShape)) {
                for (String n : names) {
                    FloatBuffer fb = ((OnnxTensor) res.get("grad." + n).orElseThrow()).getFloatBuffer();
                    float[] a = new float[fb.remaining()];
                    fb.get(a);
                    analytic.put(n, a);
                }
            }
            for (In in : inputs) {
                float[] a = analytic.get(in.name());
                assertEquals(in.values().length, a.length, label + ": gradient size of " + in.name());
                double scale = 1e-6;
                for (float v : a) scale = Math.max(scale, Math.abs(v));
                for (int i = 0; i < a.length; i++) {
                    float orig = values.get(in.name())[i];
                    double h = 1e-2 * Math.max(1, Math.abs(orig));
                    values.get(in.name())[i] = (float) (orig + h);
                    double up = loss(s, inputs, values, fixed, r, outShape);
                    values.get(in.name())[i] = (float) (orig - h);
                    double down = loss(s, inputs, values, fixed, r, outShape);
                    values.get(in.name())[i] = orig;
                    double numeric = (up - down) / (2 * h);
                    assertEquals(numeric, a[i], 2e-2 * scale + 1e-3,
                            label + ": d loss / d " + in.name() + "[" + i + "] analytic " + a[i] + " numeric " + numeric);
                }
            }
        }
    }

    static OrtSession.Result run(OrtSession s, List<In> inputs, Map<String, float[]> values, Map<String, long[][]> fixed,
                                 float[] r, long[] outShape) throws Exception {
        Map<String, OnnxTensor> feed = new LinkedHashMap<>();
        try {
            for (In in : inputs) feed.put(in.name(), OnnxTensor.createTensor(ENV, FloatBuffer.wrap(values.get(in.name())), in.shape()));
            for (var f : fixed.entrySet()) feed.put(f.getKey(), OnnxTensor.createTensor(ENV, LongBuffer.wrap(f.getValue()[1]), f.getValue()[0]));
            feed.put("r", OnnxTensor.createTensor(ENV, FloatBuffer.wrap(r), outShape));
            return s.run(feed);
        } finally {
            feed.values().forEach(OnnxTensor::close);
        }
    }

    static double loss(OrtSession s, List<In> inputs, Map<String, float[]> values, Map<String, long[][]> fixed,
                       float[] r, long[] outShape) throws Exception {
        try (OrtSession.Result res = run(s, inputs, values, fixed, r, outShape)) {
            return ((OnnxTensor) res.get("loss").orElseThrow()).getFloatBuffer().get(0);
        }
    }

    static In in(String name, long... shape) {
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        SplittableRandom rng = new SplittableRandom(name.hashCode() * 31L + n);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rng.nextDouble(-1, 1);
        return new In(name, shape, v);
    }

    static In positive(String name, long... shape) {
        In x = in(name, shape);
        float[] v = x.values().clone();
        for (int i = 0; i < v.length; i++) v[i] = 0.5f + Math.abs(v[i]);
        return new In(name, shape, v);
    }

    static final Map<String, long[][]> NONE = Map.of();

    @Test
    void elementwiseWithBroadcasting() throws Exception {
        for (String op : List.of("Add", "Sub", "Mul", "Div")) {
            check(op + " same shape", List.of(in("x", 2, 3), positive("y", 2, 3)), NONE, new long[]{2, 3},
                    (g, n) -> g.op(op, List.of(n.get(0), n.get(1))));
            check(op + " row vector", List.of(in("x", 2, 3), positive("y", 3)), NONE, new long[]{2, 3},
                    (g, n) -> g.op(op, List.of(n.get(0), n.get(1))));
            check(op + " column", List.of(in("x", 2, 3), positive("y", 2, 1)), NONE, new long[]{2, 3},
                    (g, n) -> g.op(op, List.of(n.get(0), n.get(1))));
        }
        check("Where", List.of(in("x", 2, 3), in("y", 2, 3)), NONE, new long[]{2, 3},
                (g, n) -> g.op("Where", List.of(g.op("Greater", List.of(n.get(0), n.get(1))), n.get(0), n.get(1))));
        check("Min", List.of(in("x", 2, 3), in("y", 3)), NONE, new long[]{2, 3}, (g, n) -> g.op("Min", List.of(n.get(0), n.get(1))));
        check("Max", List.of(in("x", 2, 3), in("y", 2, 3)), NONE, new long[]{2, 3}, (g, n) -> g.op("Max", List.of(n.get(0), n.get(1))));
    }

    @Test
    void unaryAndReductions() throws Exception {
        check("Neg", List.of(in("x", 2, 3)), NONE, new long[]{2, 3}, (g, n) -> g.op("Neg", List.of(n.get(0))));
        check("Pow2", List.of(in("x", 2, 3)), NONE, new long[]{2, 3}, (g, n) -> g.op("Pow", List.of(n.get(0), g.constFloat(2f))));
        check("Pow3", List.of(positive("x", 2, 3)), NONE, new long[]{2, 3}, (g, n) -> g.op("Pow", List.of(n.get(0), g.constFloat(3f))));
        check("Sqrt", List.of(positive("x", 2, 3)), NONE, new long[]{2, 3}, (g, n) -> g.op("Sqrt", List.of(n.get(0))));
        check("Exp", List.of(in("x", 2, 3)), NONE, new long[]{2, 3}, (g, n) -> g.op("Exp", List.of(n.get(0))));
        check("Sigmoid", List.of(in("x", 2, 3)), NONE, new long[]{2, 3}, (g, n) -> g.op("Sigmoid", List.of(n.get(0))));
        check("Softmax", List.of(in("x", 2, 4)), NONE, new long[]{2, 4}, (g, n) -> g.op("Softmax", List.of(n.get(0)), attr("axis", -1L)));
        check("LogSoftmax", List.of(in("x", 3, 5)), NONE, new long[]{3, 5}, (g, n) -> g.op("LogSoftmax", List.of(n.get(0)), attr("axis", -1L)));
        check("ReduceLogSumExp", List.of(in("x", 3, 5)), NONE, new long[]{3},
                (g, n) -> g.op("ReduceLogSumExp", List.of(n.get(0)), attrInts("axes", -1), attr("keepdims", 0L)));
        check("ReduceMean", List.of(in("x", 3, 4)), NONE, new long[]{3, 1},
                (g, n) -> g.op("ReduceMean", List.of(n.get(0)), attrInts("axes", -1), attr("keepdims", 1L)));
        check("ReduceSum axis", List.of(in("x", 3, 4)), NONE, new long[]{3},
                (g, n) -> g.op("ReduceSum", List.of(n.get(0), g.constInt64(1)), attr("keepdims", 0L)));
        check("RMSNorm", List.of(in("x", 3, 4), in("w", 4)), NONE, new long[]{3, 4}, (g, n) -> {
            String sq = g.op("Pow", List.of(n.get(0), g.constFloat(2f)));
            String mean = g.op("ReduceMean", List.of(sq), attrInts("axes", -1), attr("keepdims", 1L));
            String den = g.op("Sqrt", List.of(g.op("Add", List.of(mean, g.constFloat(1e-6f)))));
            return g.op("Mul", List.of(g.op("Div", List.of(n.get(0), den)), n.get(1)));
        });
    }

    @Test
    void shapeOps() throws Exception {
        check("Reshape", List.of(in("x", 2, 6)), NONE, new long[]{3, 4}, (g, n) -> g.op("Reshape", List.of(n.get(0), g.constInt64(3, 4))));
        check("Transpose", List.of(in("x", 2, 3, 4)), NONE, new long[]{4, 2, 3},
                (g, n) -> g.op("Transpose", List.of(n.get(0)), attrInts("perm", 2, 0, 1)));
        check("Unsqueeze", List.of(in("x", 2, 3)), NONE, new long[]{2, 1, 3}, (g, n) -> g.op("Unsqueeze", List.of(n.get(0), g.constInt64(1))));
        check("Squeeze", List.of(in("x", 2, 1, 3)), NONE, new long[]{2, 3}, (g, n) -> g.op("Squeeze", List.of(n.get(0), g.constInt64(1))));
        check("Concat", List.of(in("x", 2, 3), in("y", 2, 2)), NONE, new long[]{2, 5},
                (g, n) -> g.op("Concat", List.of(n.get(0), n.get(1)), attr("axis", -1L)));
        check("rotate_half", List.of(in("x", 2, 2, 3, 4)), NONE, new long[]{2, 2, 3, 4}, (g, n) -> {
            String axis = g.constInt64(-1);
            String x1 = g.op("Slice", List.of(n.get(0), g.constInt64(0), g.constInt64(2), axis));
            String x2 = g.op("Slice", List.of(n.get(0), g.constInt64(2), g.constInt64(4), axis));
            return g.op("Concat", List.of(g.op("Neg", List.of(x2)), x1), attr("axis", -1L));
        });
        check("Gather rows", List.of(in("x", 5, 3)), Map.of("idx", new long[][]{{4}, {4, 0, 4, 2}}), new long[]{4, 3},
                (g, n) -> g.op("Gather", List.of(n.get(0), "idx"), attr("axis", 0L)));
        check("GatherElements", List.of(in("x", 3, 5)), Map.of("idx", new long[][]{{3, 1}, {4, 0, 2}}), new long[]{3, 1},
                (g, n) -> g.op("GatherElements", List.of(n.get(0), "idx"), attr("axis", 1L)));
        check("Expand", List.of(in("x", 3, 1)), NONE, new long[]{3, 4}, (g, n) -> g.op("Expand", List.of(n.get(0), g.constInt64(3, 4))));
    }

    @Test
    void matrixProducts() throws Exception {
        check("Gemm transB with C", List.of(in("x", 3, 4), in("w", 5, 4), in("c", 3, 5)), NONE, new long[]{3, 5},
                (g, n) -> g.op("Gemm", List.of(n.get(0), n.get(1), n.get(2)), attr("transB", 1L)));
        check("Gemm transB with bias", List.of(in("x", 3, 4), in("w", 5, 4), in("b", 5)), NONE, new long[]{3, 5},
                (g, n) -> g.op("Gemm", List.of(n.get(0), n.get(1), n.get(2)), attr("transB", 1L)));
        check("Gemm plain", List.of(in("x", 3, 4), in("w", 4, 2)), NONE, new long[]{3, 2},
                (g, n) -> g.op("Gemm", List.of(n.get(0), n.get(1))));
        check("MatMul 5-D broadcast (GQA)", List.of(in("q", 2, 2, 3, 4, 5), in("k", 2, 2, 1, 5, 6)), NONE, new long[]{2, 2, 3, 4, 6},
                (g, n) -> g.op("MatMul", List.of(n.get(0), n.get(1))));
    }

    @Test
    void unknownOpsAreReportedByName() {
        GraphBuilder g = new GraphBuilder("t", null);
        g.input("x", GraphBuilder.FLOAT, 2);
        String z = g.op("Tanh", List.of("x"));
        String loss = g.op("ReduceSum", List.of(z), attr("keepdims", 0L));
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> GradientBuilder.build(g, loss, List.of("x")));
        assertTrue(e.getMessage().contains("Tanh"), e.getMessage());
    }
}
