package dev.tina.training.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.LinkedHashMap;
import java.util.Map;

/** Conversions between batches of Java arrays and ONNX Runtime tensors, shared by the sessions here. */
public final class OrtValues {
    private OrtValues() {}

    /** A tensor over {long[] or float[] values, long[] shape}. */
    public static OnnxTensor tensor(OrtEnvironment env, Object[] valuesAndShape) throws OrtException {
        long[] shape = (long[]) valuesAndShape[1];
        return valuesAndShape[0] instanceof long[] l ? OnnxTensor.createTensor(env, LongBuffer.wrap(l), shape)
                : OnnxTensor.createTensor(env, FloatBuffer.wrap((float[]) valuesAndShape[0]), shape);
    }

    /** Tensors for the named entries of {@code values}, in {@code order} (sessions bind by position). */
    public static Map<String, OnnxTensor> tensors(OrtEnvironment env, Map<String, Object[]> values, Iterable<String> order) throws OrtException {
        Map<String, OnnxTensor> out = new LinkedHashMap<>();
        try {
            for (String name : order) {
                Object[] v = values.get(name);
                if (v == null) throw new IllegalArgumentException("batch lacks input '" + name + "'");
                out.put(name, tensor(env, v));
            }
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
