package dev.tina.training.graph;

import dev.tina.export.ModelDescriptor;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.export.onnx.proto.Onnx.ModelProto;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.training.autodiff.GradientBuilder;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.tina.export.onnx.GraphBuilder.FLOAT;

/**
 * Builds, next to an export, the graph that computes a loss and its gradients with respect to the
 * LoRA factors: the decoder without KV cache, LoRA A/B at a fixed rank as inputs, a
 * {@link LossHead}, then the backward pass from {@link GradientBuilder}. Outputs: the head's
 * outputs, then {@code grad.<PEFT name>} for every factor.
 */
public final class TrainingGraph {
    public static final String GRAD_PREFIX = "grad.";

    public record Built(Path file, List<String> params, Map<String, String> gradients) {}

    private TrainingGraph() {}

    /** Names of the LoRA factors in graph-input order. */
    public static List<String> loraParams(ModelConfig c, List<Projection> targets) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            for (Projection p : targets) {
                out.add(PeftAdapter.tensorName(i, p, 'A'));
                out.add(PeftAdapter.tensorName(i, p, 'B'));
            }
        }
        return out;
    }

    /** The forward pass, loss and backward pass in one builder, before any outputs for the gradients. */
    public record Pass(GraphBuilder g, ModelConfig config, List<String> params, Map<String, String> gradients) {}

    public static Pass forwardAndBackward(Path exportDir, int rank, List<Projection> targets, LossHead head) throws Exception {
        return forwardAndBackward(exportDir, rank, targets, head, 0.0);
    }

    /** @param loraDropout PEFT's lora_dropout; above 0 the graph takes a {@code lora_dropout_seed} input */
    public static Pass forwardAndBackward(Path exportDir, int rank, List<Projection> targets, LossHead head, double loraDropout) throws Exception {
        ModelDescriptor d = ModelDescriptor.read(exportDir);
        ModelConfig c = ModelConfig.read(exportDir.resolve("config.json"));
        if (targets.isEmpty()) throw new IllegalArgumentException("no LoRA target modules given");
        for (Projection p : targets) {
            if (!d.loraTargets().contains(p.moduleName())) {
                throw new IllegalArgumentException("target module " + p.moduleName() + " has no LoRA inputs in the export " + exportDir
                        + " (it has " + d.loraTargets() + "); re-export with --lora-targets including it");
            }
        }
        if (rank < 1) throw new IllegalArgumentException("LoRA rank must be >= 1, got " + rank);
        GraphBuilder g = new GraphBuilder("tina_lora_train", null);
        DecoderGraph.build(g, c, new ExportedWeights(exportDir), targets, new DecoderGraph.Variant(false, rank, head, loraDropout));
        List<String> params = loraParams(c, targets);
        Map<String, String> grads = GradientBuilder.build(g, LossHead.LOSS, params);
        for (String p : params) if (!grads.containsKey(p)) throw new IllegalStateException("the loss does not depend on " + p);
        return new Pass(g, c, params, grads);
    }

    public static long[] paramShape(ModelConfig c, String param, int rank) {
        Projection proj = projectionOf(param);
        return param.endsWith("lora_A.weight") ? new long[]{rank, proj.inFeatures(c)} : new long[]{proj.outFeatures(c), rank};
    }

    /** Writes, into {@code exportDir} (beside the weights it references), a graph whose outputs include {@code grad.<param>}. */
    public static Built gradientGraph(Path exportDir, int rank, List<Projection> targets, LossHead head, String fileName) throws Exception {
        return gradientGraph(exportDir, rank, targets, head, 0.0, fileName);
    }

    /**
     * The forward pass and loss head alone, no backward: log-probabilities at the target positions
     * only ([K × vocab] logits, not [batch × seq × vocab]). With {@code lora_scale} 0 it gives the
     * adapter-off reference log-probs GRPO's KL term needs.
     */
    public static Built scoringGraph(Path exportDir, int rank, List<Projection> targets, LossHead head, String fileName) throws Exception {
        ModelConfig c = ModelConfig.read(exportDir.resolve("config.json"));
        GraphBuilder g = new GraphBuilder("tina_lora_score", null);
        DecoderGraph.build(g, c, new ExportedWeights(exportDir), targets, new DecoderGraph.Variant(false, rank, head));
        return new Built(write(exportDir, fileName, g), loraParams(c, targets), Map.of());
    }

    public static Built gradientGraph(Path exportDir, int rank, List<Projection> targets, LossHead head, double loraDropout,
                                      String fileName) throws Exception {
        Pass pass = forwardAndBackward(exportDir, rank, targets, head, loraDropout);
        GraphBuilder g = pass.g();
        for (String p : pass.params()) {
            g.opNamed("Identity", GRAD_PREFIX + p, List.of(pass.gradients().get(p)));
            long[] shape = paramShape(pass.config(), p, rank);
            g.output(GRAD_PREFIX + p, FLOAT, shape[0], shape[1]);
        }
        return new Built(write(exportDir, fileName, g), pass.params(), pass.gradients());
    }

    /** The model of a training-side graph: opset 17 and ONNX Runtime's com.microsoft ops (gradient kernels). */
    public static ModelProto model(GraphBuilder g) {
        return GraphBuilder.model(g.build()).build();
    }

    public static Path write(Path dir, String fileName, GraphBuilder g) throws IOException {
        Path file = dir.resolve(fileName);
        ModelProto model = model(g);
        dev.tina.export.AtomicFiles.write(file, tmp -> {
            try (OutputStream os = Files.newOutputStream(tmp)) {
                model.writeTo(os);
            }
        });
        return file;
    }

    /**
     * A gradient graph for full-parameter training (the SFT of a small model from scratch): every
     * base weight becomes a graph input and gets a gradient output; no LoRA. Meant for models
     * whose weights fit comfortably on the heap. Returns the weight names and shapes in input order.
     */
    public static Built fullGradientGraph(Path exportDir, LossHead head, String fileName, Map<String, long[]> shapesOut) throws Exception {
        ModelConfig c = ModelConfig.read(exportDir.resolve("config.json"));
        GraphBuilder g = new GraphBuilder("tina_full_train", null);
        List<String> params = new ArrayList<>();
        DecoderGraph.WeightSource asInputs = (gb, name, shape) -> {
            Object[] dims = new Object[shape.length];
            for (int i = 0; i < shape.length; i++) dims[i] = shape[i];
            gb.input(name, FLOAT, dims);
            params.add(name);
            shapesOut.put(name, shape.clone());
            return dev.tina.export.checkpoint.DType.F32;
        };
        DecoderGraph.build(g, c, asInputs, List.of(), new DecoderGraph.Variant(false, null, head));
        Map<String, String> grads = GradientBuilder.build(g, LossHead.LOSS, params);
        for (String p : params) {
            String grad = grads.get(p);
            if (grad == null) throw new IllegalStateException("the loss does not depend on " + p);
            g.opNamed("Identity", GRAD_PREFIX + p, List.of(grad));
            Object[] dims = new Object[shapesOut.get(p).length];
            for (int i = 0; i < dims.length; i++) dims[i] = shapesOut.get(p)[i];
            g.output(GRAD_PREFIX + p, FLOAT, dims);
        }
        return new Built(write(exportDir, fileName, g), params, grads);
    }

    static Projection projectionOf(String peftName) {
        for (Projection p : Projection.values()) if (peftName.contains("." + p.moduleName() + ".")) return p;
        throw new IllegalArgumentException("not a LoRA tensor name: " + peftName);
    }
}
