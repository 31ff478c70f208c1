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
 * How the gradient pass trades compute for memory: {@code layer} recomputes each decoder layer in
 * the backward pass ({@link LayeredGradients}: memory grows by kilobytes per token, but many small
 * runs); {@code none} keeps every activation in one ONNX Runtime graph ({@link GradientSession}:
 * megabytes per token, no recomputation, faster at short sequences); {@code auto} (the default)
 * takes {@code none} when its estimated peak ({@link MemoryEstimate}) fits the memory budget
 * ({@link MemoryBudget}), else {@code layer}.
 */
public enum Recompute {
    NONE, LAYER, AUTO;

    public static Recompute parse(String s) {
        for (Recompute r : values()) if (r.cli().equals(s.trim().toLowerCase(Locale.ROOT))) return r;
        throw new IllegalArgumentException("unknown recompute mode '" + s + "', expected one of auto, none, layer");
    }

    /** The pass that runs and why ({@code auto}: the estimate against the budget). */
    public record Decision(Recompute mode, String reason) {
        public Decision {
            if (mode == AUTO) throw new IllegalArgumentException("a decision names the pass that runs: none or layer");
        }

        @Override
        public String toString() { return mode.cli() + " (" + reason + ")"; }
    }

    /**
     * The pass this mode runs on {@code device} for a micro-batch whose whole-graph estimate is
     * {@code estimate}: {@code none} and {@code layer} as given; {@code auto} compares the estimate
     * with {@code budgetBytes} on the CPU, and takes {@code none} on a GPU (the only pass that runs there).
     */
    public Decision decide(MemoryEstimate estimate, long budgetBytes, SessionSettings.Device device) {
        if (this != AUTO) return new Decision(this, "as given");
        if (device.ortDevice() != SessionSettings.Device.CPU) {
            return new Decision(NONE, "auto on --device " + device.cli() + ": the layered pass runs on the CPU only");
        }
        boolean fits = estimate.total() <= budgetBytes;
        return new Decision(fits ? NONE : LAYER, String.format(Locale.ROOT, "auto: whole-graph estimate %s %s budget %.1f GB",
                estimate.describe(), fits ? "<=" : ">", budgetBytes / 1e9));
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
        if (this == AUTO) throw new IllegalStateException("--recompute auto is decided before opening an engine (decide)");
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
