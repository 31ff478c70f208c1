package dev.tina.training.autodiff;

import dev.tina.export.onnx.GraphBuilder;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.tina.export.onnx.GraphBuilder.attr;

/**
 * Vector-Jacobian products of a graph piece: given the gradients of some of its outputs as new
 * graph inputs ({@code grad.<output>}), appends the backward pass that gives the gradients of
 * chosen inputs. It is how a part of the model (a decoder layer's attention block, its MLP, an
 * attention tile) is differentiated on its own, so that a driver can run the parts one after
 * another and carry the gradient between them: the pseudo-loss Σ_y ⟨y, dy⟩ has exactly the
 * wanted gradients, and {@link GradientBuilder} differentiates it with the same rules as the
 * whole-model graph.
 */
public final class Vjp {
    public static final String GRAD = "grad.";

    private Vjp() {}

    /** A differentiated output and its element shape (the dims of its {@code grad.*} input's declaration). */
    public record Output(String name, Object... dims) {}

    /**
     * @param outputs the differentiated outputs
     * @param wrt     inputs to differentiate with respect to
     * @return wrt name → gradient value name (absent when no output depends on it)
     */
    public static Map<String, String> append(GraphBuilder g, List<Output> outputs, List<String> wrt) {
        List<String> terms = new ArrayList<>();
        try (var s = g.scope("vjp")) {
            for (Output y : outputs) {
                String dy = GRAD + y.name();
                g.input(dy, GraphBuilder.FLOAT, y.dims());
                terms.add(g.op("ReduceSum", List.of(g.op("Mul", List.of(y.name(), dy))), attr("keepdims", 0L)));
            }
        }
        String pseudoLoss = terms.size() == 1 ? terms.getFirst() : g.op("Sum", terms);
        return GradientBuilder.build(g, pseudoLoss, wrt);
    }
}
