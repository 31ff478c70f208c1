package dev.tina.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import dev.tina.export.ModelDescriptor;

import java.nio.FloatBuffer;

/**
 * The per-layer key and value tensors [batch, kv_heads, length, head_dim] fed as
 * {@code past_key_values.*}. An empty cache owns its (zero-length) tensors; a cache taken from a
 * {@link DecoderOutput} is a view whose tensors that output owns.
 */
public final class KvCache implements AutoCloseable {
    private final OnnxTensor[] keys, values;
    private final int batch;
    private final long length;
    private final AutoCloseable owner;

    /** @param owner what closing this cache releases; null for a view owned elsewhere */
    KvCache(OnnxTensor[] keys, OnnxTensor[] values, int batch, long length, AutoCloseable owner) {
        this.keys = keys;
        this.values = values;
        this.batch = batch;
        this.length = length;
        this.owner = owner;
    }

    public static KvCache empty(OrtEnvironment env, ModelDescriptor d, int batch) throws OrtException {
        int n = d.numLayers();
        OnnxTensor[] k = new OnnxTensor[n], v = new OnnxTensor[n];
        long[] shape = {batch, d.numKeyValueHeads(), 0, d.headDim()};
        for (int i = 0; i < n; i++) {
            k[i] = OnnxTensor.createTensor(env, FloatBuffer.allocate(0), shape);
            v[i] = OnnxTensor.createTensor(env, FloatBuffer.allocate(0), shape);
        }
        return new KvCache(k, v, batch, 0, () -> {
            for (OnnxTensor t : k) t.close();
            for (OnnxTensor t : v) t.close();
        });
    }

    public OnnxTensor key(int layer) { return keys[layer]; }

    public OnnxTensor value(int layer) { return values[layer]; }

    public int batchSize() { return batch; }

    /** Number of cached positions. */
    public long length() { return length; }

    @Override
    public void close() {
        if (owner == null) return;
        try {
            owner.close();
        } catch (Exception e) {
            throw new IllegalStateException("closing KV cache tensors", e);
        }
    }
}
