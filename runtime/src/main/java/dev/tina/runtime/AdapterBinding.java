package dev.tina.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.peft.PeftAdapter;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The LoRA inputs of an exported graph, as ONNX Runtime tensors: the base model (rank 0, empty A
 * and B), a PEFT adapter, or in-memory weights. Owns its tensors. Projections the export targets
 * but the adapter does not get zero factors of the adapter's rank, which contribute nothing.
 */
public final class AdapterBinding implements AutoCloseable {
    private final Map<String, OnnxTensor> tensors;
    /** The tensors this binding closes: all of them, except in {@link #composite} bindings. */
    private final Map<String, OnnxTensor> owned;
    private final int rank;

    private AdapterBinding(Map<String, OnnxTensor> tensors, int rank) {
        this(tensors, tensors, rank);
    }

    private AdapterBinding(Map<String, OnnxTensor> tensors, Map<String, OnnxTensor> owned, int rank) {
        this.tensors = tensors;
        this.owned = owned;
        this.rank = rank;
    }

    /**
     * Graph inputs made of tensors borrowed from other bindings (which must outlive this one) and
     * tensors this binding owns and closes (a server's per-step LoRA scale over shared factors).
     */
    public static AdapterBinding composite(Map<String, OnnxTensor> borrowed, Map<String, OnnxTensor> owned, int rank) {
        Map<String, OnnxTensor> all = new LinkedHashMap<>(borrowed);
        all.putAll(owned);
        return new AdapterBinding(all, new LinkedHashMap<>(owned), rank);
    }

    /** No adapter: the base model. */
    public static AdapterBinding none(OrtEnvironment env, ModelDescriptor d) throws OrtException {
        return build(env, d, 0, 0.0, null);
    }

    public static AdapterBinding of(OrtEnvironment env, ModelDescriptor d, PeftAdapter adapter) throws OrtException {
        List<String> missing = new ArrayList<>();
        for (Projection p : adapter.config().targets()) if (!d.loraTargets().contains(p.moduleName())) missing.add(p.moduleName());
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("adapter " + adapter.source() + " targets " + missing + ", but the export only has LoRA inputs for "
                    + d.loraTargets() + "; re-export with --lora-targets including them");
        }
        return build(env, d, adapter.config().r(), adapter.config().scale(), adapter);
    }

    private static AdapterBinding build(OrtEnvironment env, ModelDescriptor d, int r, double scale, PeftAdapter adapter) throws OrtException {
        Map<String, OnnxTensor> out = new LinkedHashMap<>();
        try {
            if (d.loraTargets().isEmpty()) return new AdapterBinding(out, 0);
            out.put(DecoderGraph.LORA_SCALE, OnnxTensor.createTensor(env, FloatBuffer.wrap(new float[]{(float) scale}), new long[]{1}));
            for (int layer = 0; layer < d.numLayers(); layer++) {
                for (String target : d.loraTargets()) {
                    Projection p = Projection.fromModuleName(target);
                    int[] dims = d.loraDims().get(target);
                    int in = dims[0], outF = dims[1];
                    boolean present = adapter != null && adapter.config().targets().contains(p);
                    float[] a = present ? adapter.a(layer, p) : new float[r * in];
                    float[] b = present ? adapter.b(layer, p) : new float[outF * r];
                    out.put(PeftAdapter.tensorName(layer, p, 'A'), OnnxTensor.createTensor(env, FloatBuffer.wrap(a), new long[]{r, in}));
                    out.put(PeftAdapter.tensorName(layer, p, 'B'), OnnxTensor.createTensor(env, FloatBuffer.wrap(b), new long[]{outF, r}));
                }
            }
            return new AdapterBinding(out, r);
        } catch (OrtException | RuntimeException e) {
            out.values().forEach(OnnxTensor::close);
            throw e;
        }
    }

    public int rank() { return rank; }

    /** The LoRA scale (alpha / r, or alpha / √r), 0 for the base model or an export without LoRA inputs. */
    public float scale() throws OrtException {
        OnnxTensor t = tensors.get(DecoderGraph.LORA_SCALE);
        return t == null ? 0f : t.getFloatBuffer().get(0);
    }

    /** The bound tensors by graph input name ({@code lora_scale}, every A and B), for engines that copy them elsewhere (TensorRT). */
    public Map<String, OnnxTensor> tensors() { return java.util.Collections.unmodifiableMap(tensors); }

    public void addInputs(Map<String, OnnxTensor> inputs, ModelDescriptor d) {
        inputs.putAll(tensors);
    }

    @Override
    public void close() {
        owned.values().forEach(OnnxTensor::close);
    }
}
