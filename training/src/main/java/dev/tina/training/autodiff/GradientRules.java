package dev.tina.training.autodiff;

import dev.tina.export.onnx.proto.Onnx.NodeProto;

import java.util.List;
import java.util.Map;

import static dev.tina.export.onnx.GraphBuilder.attr;
import static dev.tina.export.onnx.GraphBuilder.attrInts;
import static dev.tina.training.autodiff.GradientBuilder.attrInt;

/**
 * The gradient rules, one per op the decoder and loss graphs use. Each is checked against finite
 * differences in {@code GradientRulesTest}. Notation: x, y inputs; z output; dz its gradient.
 */
final class GradientRules {
    private GradientRules() {}

    static void register(Map<String, GradientBuilder.Rule> r) {
        r.put("Identity", (b, n, dz) -> b.add(n.getInput(0), dz[0]));
        r.put("Add", (b, n, dz) -> {
            if (b.needs(n.getInput(0))) b.add(n.getInput(0), b.reduceTo(dz[0], n, 0));
            if (b.needs(n.getInput(1))) b.add(n.getInput(1), b.reduceTo(dz[0], n, 1));
        });
        r.put("Sum", (b, n, dz) -> {
            for (int i = 0; i < n.getInputCount(); i++) if (b.needs(n.getInput(i))) b.add(n.getInput(i), b.reduceTo(dz[0], n, i));
        });
        r.put("Sub", (b, n, dz) -> {
            if (b.needs(n.getInput(0))) b.add(n.getInput(0), b.reduceTo(dz[0], n, 0));
            if (b.needs(n.getInput(1))) b.add(n.getInput(1), b.reduceTo(b.op("Neg", List.of(dz[0])), n, 1));
        });
        r.put("Neg", (b, n, dz) -> b.add(n.getInput(0), b.op("Neg", List.of(dz[0]))));
        r.put("Mul", (b, n, dz) -> {
            String x = n.getInput(0), y = n.getInput(1);
            if (b.needs(x)) b.add(x, b.reduceTo(b.op("Mul", List.of(dz[0], y)), n, 0));
            if (b.needs(y)) b.add(y, b.reduceTo(b.op("Mul", List.of(dz[0], x)), n, 1));
        });
        r.put("Div", (b, n, dz) -> {
            String x = n.getInput(0), y = n.getInput(1), z = n.getOutput(0);
            if (b.needs(x)) b.add(x, b.reduceTo(b.op("Div", List.of(dz[0], y)), n, 0));
            // d(x/y)/dy = -z/y
            if (b.needs(y)) b.add(y, b.reduceTo(b.op("Neg", List.of(b.op("Div", List.of(b.op("Mul", List.of(dz[0], z)), y)))), n, 1));
        });
        r.put("Pow", (b, n, dz) -> {
            String x = n.getInput(0), e = n.getInput(1);
            if (b.needs(e)) throw new IllegalStateException("Pow: gradient with respect to the exponent is not implemented");
            // e · x^(e-1); for x² (RMSNorm) 2x = x + x, the same bits without a pass of pow(x, 1)
            String dx = b.isConstF(e, 2f) ? b.op("Add", List.of(x, x))
                    : b.op("Mul", List.of(e, b.op("Pow", List.of(x, b.op("Sub", List.of(e, b.one()))))));
            b.add(x, b.reduceTo(b.op("Mul", List.of(dz[0], dx)), n, 0));
        });
        r.put("Sqrt", (b, n, dz) -> b.add(n.getInput(0),
                b.op("Div", List.of(dz[0], b.op("Mul", List.of(n.getOutput(0), b.constF(2f)))))));
        r.put("Exp", (b, n, dz) -> b.add(n.getInput(0), b.op("Mul", List.of(dz[0], n.getOutput(0)))));
        r.put("Log", (b, n, dz) -> b.add(n.getInput(0), b.op("Div", List.of(dz[0], n.getInput(0)))));
        r.put("Sigmoid", (b, n, dz) -> {
            String z = n.getOutput(0);
            b.add(n.getInput(0), b.op("Mul", List.of(dz[0], b.op("Mul", List.of(z, b.op("Sub", List.of(b.one(), z)))))));
        });
        // z ⊙ (dz − Σ dz ⊙ z) in ONNX Runtime's fused kernel: one pass over the [.., seq] rows
        // instead of four (it dominates attention's backward)
        r.put("Softmax", (b, n, dz) -> b.add(n.getInput(0),
                b.ms("SoftmaxGrad_13", List.of(dz[0], n.getOutput(0)), attr("axis", attrInt(n, "axis", -1)))));
        // dz − exp(z) · Σ dz in vectorised elementwise kernels: ONNX Runtime's fused LogSoftmaxGrad_13
        // measured 4× slower on the CPU (the LM head's [targets, vocab]: 223 ms against ~55)
        r.put("LogSoftmax", (b, n, dz) -> {
            long axis = attrInt(n, "axis", -1);
            String sum = b.op("ReduceSum", List.of(dz[0], b.ints(axis)), attr("keepdims", 1L));
            b.add(n.getInput(0), b.op("Sub", List.of(dz[0], b.op("Mul", List.of(b.op("Exp", List.of(n.getOutput(0))), sum)))));
        });
        r.put("ReduceLogSumExp", (b, n, dz) -> {
            // d lse / dx = softmax(x) along the reduced axes
            long[] axes = GradientBuilder.attrInts(n, "axes");
            String g = dz[0], z = n.getOutput(0);
            if (attrInt(n, "keepdims", 1) == 0) {
                g = b.op("Unsqueeze", List.of(g, b.ints(axes)));
                z = b.op("Unsqueeze", List.of(z, b.ints(axes)));
            }
            String soft = b.op("Exp", List.of(b.op("Sub", List.of(n.getInput(0), z))));
            b.add(n.getInput(0), b.op("Mul", List.of(soft, g)));
        });
        r.put("ReduceMean", (b, n, dz) -> {
            long[] axes = GradientBuilder.attrInts(n, "axes");
            String g = dz[0];
            if (attrInt(n, "keepdims", 1) == 0) g = b.op("Unsqueeze", List.of(g, b.ints(axes)));
            String x = n.getInput(0);
            String count = b.op("Div", List.of(b.op("Cast", List.of(b.op("Size", List.of(x))), attr("to", 1L)),
                    b.op("Cast", List.of(b.op("Size", List.of(n.getOutput(0)))), attr("to", 1L))));
            b.add(x, b.op("Div", List.of(b.op("Expand", List.of(g, b.shape(x))), count)));
        });
        r.put("ReduceSum", (b, n, dz) -> {
            String x = n.getInput(0), g = dz[0];
            boolean allAxes = n.getInputCount() < 2 || n.getInput(1).isEmpty();
            if (attrInt(n, "keepdims", 1) == 0) {
                if (allAxes) g = b.op("Reshape", List.of(g, b.op("ConstantOfShape", List.of(b.op("Shape", List.of(b.shape(x)))),
                        longOne())));
                else g = b.op("Unsqueeze", List.of(g, n.getInput(1)));
            }
            b.add(x, b.op("Expand", List.of(g, b.shape(x))));
        });
        r.put("Reshape", (b, n, dz) -> b.add(n.getInput(0), b.op("Reshape", List.of(dz[0], b.shape(n.getInput(0))))));
        r.put("Unsqueeze", (b, n, dz) -> b.add(n.getInput(0), b.op("Reshape", List.of(dz[0], b.shape(n.getInput(0))))));
        r.put("Squeeze", (b, n, dz) -> b.add(n.getInput(0), b.op("Reshape", List.of(dz[0], b.shape(n.getInput(0))))));
        r.put("Expand", (b, n, dz) -> b.add(n.getInput(0), b.reduceTo(dz[0], n.getInput(0))));
        r.put("Cast", (b, n, dz) -> {
            if (attrInt(n, "to", 1) == 1) b.add(n.getInput(0), dz[0]); // float → float only; int casts carry no gradient
        });
        r.put("Transpose", (b, n, dz) -> {
            long[] perm = GradientBuilder.attrInts(n, "perm");
            long[] inverse = new long[perm.length];
            for (int i = 0; i < perm.length; i++) inverse[(int) perm[i]] = i;
            b.add(n.getInput(0), b.op("Transpose", List.of(dz[0]), attrInts("perm", inverse)));
        });
        r.put("Concat", (b, n, dz) -> {
            long axis = attrInt(n, "axis", 0);
            // Split dz back by each input's extent along the axis, read at run time.
            List<String> sizes = n.getInputList().stream().map(in -> b.op("Gather", List.of(b.shape(in), b.ints(axis)))).toList();
            String split = b.op("Concat", sizes, attr("axis", 0L));
            String[] parts = b.multi("Split", n.getInputCount(), List.of(dz[0], split), attr("axis", axis));
            for (int i = 0; i < parts.length; i++) b.add(n.getInput(i), parts[i]);
        });
        r.put("Slice", (b, n, dz) -> {
            List<String> in = new java.util.ArrayList<>(List.of(dz[0], b.shape(n.getInput(0))));
            for (int i = 1; i < n.getInputCount(); i++) in.add(n.getInput(i));
            b.add(n.getInput(0), b.ms("SliceGrad", in));
        });
        r.put("Gather", (b, n, dz) -> {
            long axis = attrInt(n, "axis", 0);
            if (axis != 0) {
                b.add(n.getInput(0), b.ms("GatherGrad", List.of(b.shape(n.getInput(0)), n.getInput(1), dz[0]), attr("axis", axis)));
                return;
            }
            String data = n.getInput(0);
            if (b.hasUniqueIndices(n.getOutput(0))) {
                // each row read at most once (the targets' positions): dz's rows written into zeros,
                // nothing summed, so no order to vary (the one-hot product below is [K × rows] × [K × H])
                String zeros = b.op("ConstantOfShape", List.of(b.shape(data)));
                String at = b.op("Unsqueeze", List.of(n.getInput(1), b.ints(-1)));
                b.add(data, b.op("ScatterND", List.of(zeros, at, dz[0])));
                return;
            }
            // Rows gathered along axis 0 (the embedding lookup): dData = onehot(indices)ᵀ · dz, one
            // GEMM. ORT's CPU GatherGrad sums repeated indices in an order that varies between runs
            // (1e-8 differences that grow over an SFT run) and ScatterND's reduction="add" loses
            // updates under its thread pool, so neither gives reproducible training. The one-hot
            // matrix is [tokens × rows]: fine for small vocabularies (full-parameter training of
            // small models, the only place an embedding gets a gradient; LoRA never does).
            String rows = b.op("Gather", List.of(b.shape(data), b.ints(0)));
            String range = b.op("Range", List.of(b.op("Squeeze", List.of(b.ints(0))), b.op("Squeeze", List.of(rows)),
                    b.op("Squeeze", List.of(b.ints(1)))));
            String hits = b.op("Equal", List.of(b.op("Unsqueeze", List.of(n.getInput(1), b.ints(-1))), range));
            String onehot = b.op("Reshape", List.of(b.op("Cast", List.of(hits), attr("to", 1L)), b.op("Concat", List.of(b.ints(-1), rows), attr("axis", 0L))));
            String tokens = b.op("Gather", List.of(b.shape(onehot), b.ints(0)));
            String dz2d = b.op("Reshape", List.of(dz[0], b.op("Concat", List.of(tokens, b.ints(-1)), attr("axis", 0L))));
            String grad = b.op("Gemm", List.of(onehot, dz2d), attr("transA", 1L));
            b.add(data, b.op("Reshape", List.of(grad, b.shape(data))));
        });
        r.put("GatherElements", (b, n, dz) -> b.add(n.getInput(0),
                b.ms("GatherElementsGrad", List.of(dz[0], b.shape(n.getInput(0)), n.getInput(1)), attr("axis", attrInt(n, "axis", 0)))));
        r.put("Where", (b, n, dz) -> {
            String c = n.getInput(0), x = n.getInput(1), y = n.getInput(2);
            String zero = b.constF(0f);
            if (b.needs(x)) b.add(x, b.reduceTo(b.op("Where", List.of(c, dz[0], zero)), n, 1));
            if (b.needs(y)) b.add(y, b.reduceTo(b.op("Where", List.of(c, zero, dz[0])), n, 2));
        });
        r.put("Min", (b, n, dz) -> minMax(b, n, dz, "Less"));
        r.put("Max", (b, n, dz) -> minMax(b, n, dz, "Greater"));
        r.put("Gemm", (b, n, dz) -> {
            if (attrInt(n, "transA", 0) != 0 || GradientBuilder.attrFloat(n, "alpha", 1f) != 1f || GradientBuilder.attrFloat(n, "beta", 1f) != 1f) {
                throw new IllegalStateException("Gemm gradient implemented for transA=0, alpha=beta=1 only (node " + n.getName() + ")");
            }
            boolean transB = attrInt(n, "transB", 0) == 1;
            String a = n.getInput(0), w = n.getInput(1), g = dz[0];
            if (b.needs(a)) b.add(a, transB ? b.op("Gemm", List.of(g, w)) : b.op("Gemm", List.of(g, w), attr("transB", 1L)));
            if (b.needs(w)) b.add(w, transB ? b.op("Gemm", List.of(g, a), attr("transA", 1L)) : b.op("Gemm", List.of(a, g), attr("transA", 1L)));
            if (n.getInputCount() > 2 && b.needs(n.getInput(2))) b.add(n.getInput(2), b.reduceTo(g, n, 2));
        });
        r.put("MatMul", (b, n, dz) -> {
            String a = n.getInput(0), w = n.getInput(1), g = dz[0];
            if (b.needs(a)) b.add(a, b.reduceTo(b.ms("FusedMatMul", List.of(g, w), attr("transB", 1L)), n, 0));
            if (b.needs(w)) b.add(w, b.reduceTo(b.ms("FusedMatMul", List.of(a, g), attr("transA", 1L)), n, 1));
        });
    }

    private static dev.tina.export.onnx.proto.Onnx.AttributeProto longOne() {
        var t = dev.tina.export.onnx.proto.Onnx.TensorProto.newBuilder().setDataType(7).addDims(1).addInt64Data(1);
        return dev.tina.export.onnx.proto.Onnx.AttributeProto.newBuilder().setName("value")
                .setType(dev.tina.export.onnx.proto.Onnx.AttributeProto.AttributeType.TENSOR).setT(t).build();
    }

    /**
     * Elementwise min/max: the gradient goes to the selected input; on ties it is split in half,
     * as PyTorch's {@code torch.minimum}/{@code maximum} do (GRPO's unclipped and clipped terms are
     * equal whenever the ratio is inside the clip range).
     */
    private static void minMax(GradientBuilder b, NodeProto n, String[] dz, String strict) {
        if (n.getInputCount() != 2) throw new IllegalStateException(n.getOpType() + " gradient implemented for two inputs");
        String x = n.getInput(0), y = n.getInput(1);
        String xWins = b.op("Cast", List.of(b.op(strict, List.of(x, y))), attr("to", 1L));
        String tie = b.op("Mul", List.of(b.op("Cast", List.of(b.op("Equal", List.of(x, y))), attr("to", 1L)), b.constF(0.5f)));
        String xShare = b.op("Add", List.of(xWins, tie));
        if (b.needs(x)) b.add(x, b.reduceTo(b.op("Mul", List.of(dz[0], xShare)), n, 0));
        if (b.needs(y)) {
            String yShare = b.op("Sub", List.of(b.one(), xShare));
            b.add(y, b.reduceTo(b.op("Mul", List.of(dz[0], yShare)), n, 1));
        }
    }
}
