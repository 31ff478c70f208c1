package dev.tina.training.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.training.graph.MicroBatch;
import dev.tina.training.graph.TrainingInput;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/** Conversions between micro-batches and ONNX Runtime tensors, shared by the sessions here. */
public final class OrtValues {
    private OrtValues() {}

    /** A tensor over a micro-batch's input {@code in} (its array wrapped, not copied). */
    public static OnnxTensor tensor(OrtEnvironment env, MicroBatch batch, TrainingInput in) throws OrtException {
        return tensor(env, batch.require(in), batch.shape(in));
    }

    /** A tensor over {@code values} (a {@code long[]} or {@code float[]}) of {@code shape}. */
    public static OnnxTensor tensor(OrtEnvironment env, Object values, long[] shape) throws OrtException {
        return values instanceof long[] l ? OnnxTensor.createTensor(env, LongBuffer.wrap(l), shape)
                : OnnxTensor.createTensor(env, FloatBuffer.wrap((float[]) values), shape);
    }

    /**
     * Tensors for the graph inputs {@code names} (in that order: training sessions bind by
     * position), skipping those in {@code skip} (the LoRA factors the caller feeds).
     */
    public static Map<String, OnnxTensor> feed(OrtEnvironment env, MicroBatch batch, Iterable<String> names,
                                               Collection<String> skip) throws OrtException {
        Map<String, OnnxTensor> out = new LinkedHashMap<>();
        try {
            for (String name : names) if (!skip.contains(name)) out.put(name, tensor(env, batch, TrainingInput.of(name)));
            return out;
        } catch (OrtException | RuntimeException e) {
            out.values().forEach(OnnxTensor::close);
            throw e;
        }
    }

    public static float[] floats(OrtSession.Result r, String name) {
        FloatBuffer b = ((OnnxTensor) r.get(name).orElseThrow(() -> new IllegalStateException("no output '" + name + "'"))).getFloatBuffer();
        float[] a = new float[b.remaining()];
        b.get(a);
        return a;
    }
}
