package dev.tina.training.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;

import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a gradient graph ({@link TrainingGraph#gradientGraph}) as an ordinary ONNX Runtime
 * session: LoRA factors in, loss, log-probs and every factor's gradient out (or a scoring graph,
 * {@link TrainingGraph#scoringGraph}: no gradients). The Java-side
 * optimizer path ({@link dev.tina.training.optim.AdamW}) and the GRPO parity check use it.
 * Owns its session.
 */
public final class GradientSession implements AutoCloseable {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final List<String> params;
    private final Map<String, long[]> shapes;

    public record Result(double loss, float[] logps, float[] kl, Map<String, float[]> gradients) {}

    public GradientSession(TrainingGraph.Built graph, Map<String, long[]> shapes) throws OrtException {
        this(graph, shapes, false);
    }

    /**
     * @param lowMemory turn off ONNX Runtime's pre-packing of constant weights: the forward and
     *                  backward products each pre-pack the base weights into their own layout,
     *                  which roughly triples their resident size; off, they are read as stored
     */
    public GradientSession(TrainingGraph.Built graph, Map<String, long[]> shapes, boolean lowMemory) throws OrtException {
        this(graph, shapes, lowMemory, null);
    }

    /** @param shared base weights shared with other sessions over the same export (null: load them) */
    public GradientSession(TrainingGraph.Built graph, Map<String, long[]> shapes, boolean lowMemory,
                           dev.tina.runtime.SharedWeights shared) throws OrtException {
        this.env = TrainingNatives.requireTraining();
        this.params = graph.params();
        this.shapes = shapes;
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setDeterministicCompute(true);
            if (shared != null) shared.addTo(o); // turns pre-packing off too
            else if (lowMemory) o.addConfigEntry("session.disable_prepacking", "1");
            this.session = env.createSession(graph.file().toString(), o);
        }
    }

    public List<String> params() { return params; }

    /** The shape of each LoRA factor, by PEFT name. */
    public Map<String, long[]> shapes() { return shapes; }

    public Result run(LoraTrainingSession.Batch batch, Map<String, float[]> weights) throws OrtException {
        Map<String, OnnxTensor> feed = OrtValues.tensors(env, batch.values(), batch.values().keySet());
        try {
            for (String p : params) {
                float[] w = weights.get(p);
                if (w == null) throw new IllegalArgumentException("no weights given for " + p);
                feed.put(p, OnnxTensor.createTensor(env, FloatBuffer.wrap(w), shapes.get(p)));
            }
            try (OrtSession.Result r = session.run(feed)) {
                Map<String, float[]> grads = new LinkedHashMap<>();
                for (String p : params) {
                    if (r.get(TrainingGraph.GRAD_PREFIX + p).isPresent()) grads.put(p, OrtValues.floats(r, TrainingGraph.GRAD_PREFIX + p));
                }
                float[] kl = r.get(LossHead.KL).isPresent() ? OrtValues.floats(r, LossHead.KL) : null;
                return new Result(OrtValues.floats(r, LossHead.LOSS)[0], OrtValues.floats(r, LossHead.LOGPS), kl, grads);
            }
        } finally {
            feed.values().forEach(OnnxTensor::close);
        }
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
