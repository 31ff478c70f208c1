package dev.tina.training.dist;

import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.ort.GradientEngine;
import dev.tina.training.graph.MicroBatch;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The gradient engine of a driver whose gradients come from a cluster's executors: it names the
 * LoRA factors and their shapes in the order the real engines use (so AdamW, clipping and
 * checkpoints are the same code and order), and opens no ONNX Runtime session.
 */
public final class RemoteGradients implements GradientEngine {
    private final List<String> params;
    private final Map<String, long[]> shapes = new LinkedHashMap<>();

    public RemoteGradients(ModelConfig config, List<Projection> targets, int rank) {
        this.params = TrainingGraph.loraParams(config, targets);
        for (String p : params) shapes.put(p, TrainingGraph.paramShape(config, p, rank));
    }

    @Override
    public Result run(MicroBatch batch, Map<String, float[]> weights) {
        throw new UnsupportedOperationException("this driver computes no gradients: its steps run on the cluster's executors");
    }

    @Override
    public List<String> params() { return params; }

    @Override
    public Map<String, long[]> shapes() { return shapes; }

    @Override
    public void close() {}
}
