package dev.tina.training.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.SharedWeights;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.MicroBatch;
import dev.tina.training.graph.TrainingGraph;

import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs a gradient graph ({@link TrainingGraph#gradientGraph}) as an ordinary ONNX Runtime
 * session: LoRA factors in, loss, log-probs and every factor's gradient out (or a scoring graph,
 * {@link TrainingGraph#scoringGraph}: no gradients). The Java-side
 * optimizer path ({@link dev.tina.training.optim.AdamW}) and the GRPO parity check use it.
 * Owns its session.
 */
public final class GradientSession implements GradientEngine {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final List<String> params;
    private final Set<String> paramSet;
    private final Map<String, long[]> shapes;
    private final SessionSettings.Device device;
    /** Host→device and device→host bytes of the last run and in total (only counted off the CPU). */
    private final long[] lastCopy = new long[2], totalCopy = new long[2];

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
                           SharedWeights shared) throws OrtException {
        this(graph, shapes, lowMemory, shared, SessionSettings.Device.CPU);
    }

    /**
     * @param device CPU, or CUDA/TENSORRT for ONNX Runtime's CUDA execution provider. Microsoft's
     *               Java API has no IoBinding, so on CUDA every run copies its inputs (batch and
     *               LoRA factors) to the device and its outputs (loss, log-probs, gradients) back;
     *               {@link #lastCopyBytes()} counts those bytes so reports can show the cost.
     */
    public GradientSession(TrainingGraph.Built graph, Map<String, long[]> shapes, boolean lowMemory,
                           SharedWeights shared, SessionSettings.Device device) throws OrtException {
        this.env = TrainingNatives.requireTraining();
        this.params = graph.params();
        this.paramSet = Set.copyOf(params);
        this.shapes = shapes;
        this.device = device.ortDevice();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setDeterministicCompute(true);
            SessionSettings.SPINNING.addTo(o); // no spinning through the optimizer and the sampling that follow a run
            SessionSettings.profileIfAsked(o);
            if (shared != null) shared.addTo(o); // turns pre-packing off too
            else if (lowMemory) o.addConfigEntry("session.disable_prepacking", "1");
            if (this.device == SessionSettings.Device.CUDA) {
                SessionSettings.addCuda(o, "--device " + device.cli() + " (training)");
            }
            this.session = env.createSession(graph.file().toString(), o);
        }
    }

    /** {host→device, device→host} bytes of the last {@link #run} (zeros on the CPU). */
    public long[] lastCopyBytes() { return lastCopy.clone(); }

    @Override
    public long[] totalCopyBytes() { return totalCopy.clone(); }

    @Override
    public List<String> params() { return params; }

    /** The shape of each LoRA factor, by PEFT name. */
    @Override
    public Map<String, long[]> shapes() { return shapes; }

    @Override
    public Result run(MicroBatch batch, Map<String, float[]> weights) throws OrtException {
        Map<String, OnnxTensor> feed = OrtValues.feed(env, batch, session.getInputNames(), paramSet);
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
                Result res = new Result(OrtValues.floats(r, LossHead.LOSS)[0], OrtValues.floats(r, LossHead.LOGPS), kl, grads);
                if (device != SessionSettings.Device.CPU) countCopies(feed, res);
                return res;
            }
        } finally {
            feed.values().forEach(OnnxTensor::close);
        }
    }

    /** Every input went up and every output came down: that is what the CUDA provider copies without IoBinding. */
    private void countCopies(Map<String, OnnxTensor> feed, Result res) {
        long up = 0, down = 8; // the loss scalar (double-width upper bound)
        for (OnnxTensor t : feed.values()) up += t.getInfo().getNumElements() * (t.getInfo().type == ai.onnxruntime.OnnxJavaType.INT64 ? 8L : 4L);
        down += 4L * res.logps().length + (res.kl() == null ? 0 : 4L * res.kl().length);
        for (float[] g : res.gradients().values()) down += 4L * g.length;
        lastCopy[0] = up;
        lastCopy[1] = down;
        totalCopy[0] += up;
        totalCopy[1] += down;
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
