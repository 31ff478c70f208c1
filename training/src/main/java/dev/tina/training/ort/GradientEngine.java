package dev.tina.training.ort;

import dev.tina.training.graph.MicroBatch;

import java.util.List;
import java.util.Map;

/**
 * What the optimizer needs from the model: for one micro-batch and the current LoRA factors, the
 * loss, the per-token log-probs (and KL) and every factor's gradient. Two implementations: one
 * ONNX Runtime graph that keeps every activation ({@link GradientSession}), and a driver that runs
 * the model layer by layer and recomputes in the backward pass
 * ({@link dev.tina.training.layered.LayeredGradients}). A forward-only engine (the reference
 * scorer) returns no gradients.
 */
public interface GradientEngine extends AutoCloseable {
    record Result(double loss, float[] logps, float[] kl, Map<String, float[]> gradients) {}

    Result run(MicroBatch batch, Map<String, float[]> weights) throws Exception;

    /** The LoRA factors in PEFT names, in a fixed order. */
    List<String> params();

    /** The shape of each LoRA factor, by PEFT name. */
    Map<String, long[]> shapes();

    /** {host→device, device→host} bytes copied by all runs so far (zeros on the CPU). */
    default long[] totalCopyBytes() { return new long[2]; }

    @Override
    void close() throws Exception;
}
