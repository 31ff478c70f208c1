package dev.tina.training.layered;

import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.SharedWeights;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.ort.GradientEngine;
import dev.tina.training.ort.GradientSession;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How the gradient pass trades compute for memory: {@code layer} (the default) recomputes each
 * decoder layer in the backward pass ({@link LayeredGradients}: memory grows by kilobytes per
 * token); {@code none} keeps every activation in one ONNX Runtime graph ({@link GradientSession}:
 * megabytes per token, no recomputation), kept selectable to measure the cost side by side.
 */
public enum Recompute {
    NONE, LAYER;

    public static Recompute parse(String s) {
        for (Recompute r : values()) if (r.cli().equals(s.trim().toLowerCase(Locale.ROOT))) return r;
        throw new IllegalArgumentException("unknown recompute mode '" + s + "', expected one of none, layer");
    }

    public String cli() { return name().toLowerCase(Locale.ROOT); }

    /** What the engine computes. */
    public record Spec(Path exportDir, ModelConfig config, List<Projection> targets, int rank, LossHead head, double loraDropout,
                       boolean backward, String graphFileStem) {}

    /**
     * Opens the engine of this mode.
     *
     * @param shared    the export's mapped weights shared with other sessions (null: the engine loads its own)
     * @param lowMemory for {@code none}: no pre-packing of the base weights
     */
    public GradientEngine open(Spec spec, SharedWeights shared, boolean lowMemory, SessionSettings.Device device,
                               LayeredGradients.Options options) throws Exception {
        if (this == LAYER) {
            if (device.ortDevice() != SessionSettings.Device.CPU) {
                throw new IllegalArgumentException("--recompute layer runs on the CPU for now; use --recompute none with --device " + device.cli());
            }
            LayeredGradients.Options o = spec.backward() ? options : options.forwardOnly();
            return new LayeredGradients(spec.exportDir(), spec.config(), spec.targets(), spec.rank(), spec.head(), spec.loraDropout(), shared, o);
        }
        TrainingGraph.Built graph = spec.backward()
                ? TrainingGraph.gradientGraph(spec.exportDir(), spec.rank(), spec.targets(), spec.head(), spec.loraDropout(), spec.graphFileStem() + ".onnx")
                : TrainingGraph.scoringGraph(spec.exportDir(), spec.rank(), spec.targets(), spec.head(), spec.graphFileStem() + "-score.onnx");
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String p : graph.params()) shapes.put(p, TrainingGraph.paramShape(spec.config(), p, spec.rank()));
        return new GradientSession(graph, shapes, lowMemory, shared, device);
    }
}
