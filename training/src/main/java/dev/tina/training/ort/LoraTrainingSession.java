package dev.tina.training.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtTrainingSession;
import dev.tina.runtime.SessionSettings;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.MicroBatch;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One ONNX Runtime training session over LoRA artifacts: accumulate gradients over micro-batches
 * ({@link #trainStep}), apply AdamW with global-norm clipping ({@link #optimizerStep}), read the
 * updated factors back ({@link #weights}) for the sampler, and save the full state (parameters,
 * AdamW moments and step, with the caller's properties) as an ONNX Runtime checkpoint. Owns the
 * native session.
 */
public final class LoraTrainingSession implements AutoCloseable {
    private final OrtEnvironment env;
    private final OrtTrainingSession session;
    private final TrainingArtifacts.Files files;

    private LoraTrainingSession(OrtEnvironment env, OrtTrainingSession session, TrainingArtifacts.Files files) {
        this.env = env;
        this.session = session;
        this.files = files;
    }

    /** Opens a session from a checkpoint (the initial one, or one this session saved). */
    public static LoraTrainingSession open(TrainingArtifacts.Files files, Path checkpoint) throws OrtException {
        return open(files, checkpoint, SessionSettings.Device.CPU);
    }

    /**
     * As {@link #open(TrainingArtifacts.Files, Path)} on a device: CUDA (or TENSORRT, whose
     * training runs on CUDA) adds ONNX Runtime's CUDA execution provider, which needs the
     * training-enabled CUDA build of the natives (bytedeco's 1.24.1 linux-x86_64-gpu, {@code -Pgpu}).
     */
    public static LoraTrainingSession open(TrainingArtifacts.Files files, Path checkpoint, SessionSettings.Device device)
            throws OrtException {
        OrtEnvironment env = TrainingNatives.requireTraining();
        // Exact resumption needs the same bits from the same inputs: deterministic kernels.
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setDeterministicCompute(true);
            if (device.ortDevice() == SessionSettings.Device.CUDA) {
                SessionSettings.addCuda(o, "--device " + device.cli() + " (training session)");
            }
            OrtTrainingSession s = env.createTrainingSession(checkpoint.toString(), files.train().toString(), files.eval().toString(),
                    files.optimizer().toString(), o);
            return new LoraTrainingSession(env, s, files);
        }
    }

    public record StepOutput(double loss, float[] logps, float[] kl) {}

    /** Forward and backward on one micro-batch; gradients add to the accumulation buffers. */
    public StepOutput trainStep(MicroBatch batch) throws OrtException {
        // bound by position: keep the session's order
        Map<String, OnnxTensor> feed = OrtValues.feed(env, batch, session.getTrainInputNames(), Set.of());
        try {
            try (OrtSession.Result r = session.trainStep(feed)) {
                double loss = ((OnnxTensor) r.get(LossHead.LOSS).orElseThrow()).getFloatBuffer().get(0);
                float[] logps = OrtValues.floats(r, LossHead.LOGPS);
                float[] kl = r.get(LossHead.KL).isPresent() ? OrtValues.floats(r, LossHead.KL) : null;
                return new StepOutput(loss, logps, kl);
            }
        } finally {
            feed.values().forEach(OnnxTensor::close);
        }
    }

    /** Clips the accumulated gradients to the global norm, applies AdamW at {@code lr}, and clears the buffers. */
    public void optimizerStep(double lr) throws OrtException {
        session.setLearningRate((float) lr);
        session.optimizerStep();
        session.lazyResetGrad();
    }

    /** Discards accumulated gradients without an update (e.g. a step with a non-finite loss). */
    public void resetGradients() throws OrtException {
        session.lazyResetGrad();
    }

    /** The current LoRA factors, by PEFT name. */
    public Map<String, float[]> weights() throws OrtException {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (OrtSession.Result r = session.evalStep(Map.of())) {
            for (String p : files.params()) out.put(p, OrtValues.floats(r, TrainingArtifacts.PARAM_OUT + p));
        }
        return out;
    }

    /** Saves parameters, AdamW state and {@code properties} (ints and strings) atomically. */
    public void save(Path file, Map<String, Long> ints, Map<String, String> strings) throws OrtException {
        for (var e : ints.entrySet()) session.addProperty(e.getKey(), (int) (long) e.getValue());
        for (var e : strings.entrySet()) session.addProperty(e.getKey(), e.getValue());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        session.saveCheckpoint(tmp, true);
        try {
            java.nio.file.Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot move checkpoint into place: " + file, e);
        }
    }

    public int intProperty(String name) throws OrtException { return session.getIntProperty(name); }

    public String stringProperty(String name) throws OrtException { return session.getStringProperty(name); }

    @Override
    public void close() {
        session.close();
    }
}
