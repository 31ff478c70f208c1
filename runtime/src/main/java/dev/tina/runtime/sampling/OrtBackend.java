package dev.tina.runtime.sampling;

import ai.onnxruntime.OrtException;
import dev.tina.export.ModelDescriptor;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.DecoderOutput;
import dev.tina.runtime.KvCache;
import dev.tina.runtime.KvRowGather;
import dev.tina.runtime.OrtDecoder;

import java.nio.FloatBuffer;

/**
 * The ONNX Runtime engine (CPU, or the CUDA execution provider): the KV cache is the previous
 * pass's output tensors, fed back as inputs; rows are selected by a {@code Gather} inside ONNX
 * Runtime ({@link KvRowGather}). With CUDA, Microsoft's Java API has no IoBinding, so ONNX Runtime
 * copies the cache to the device and back on every pass; the TensorRT backend keeps it there.
 * Does not own the decoder; owns the gather session.
 */
public final class OrtBackend implements DecoderBackend {
    private final OrtDecoder decoder;
    private final KvRowGather gather;
    private final String name;

    public OrtBackend(OrtDecoder decoder, String name) throws OrtException {
        this.decoder = decoder;
        this.gather = new KvRowGather(decoder.environment(), decoder.descriptor());
        this.name = name;
    }

    @Override
    public ModelDescriptor descriptor() { return decoder.descriptor(); }

    @Override
    public String name() { return name; }

    @Override
    public Wave prefill(long[] ids, long[] mask, long[] pos, int batch, int seq, int rowsAfterFanOut, int maxNewTokens,
                        AdapterBinding adapter) throws OrtException {
        try (KvCache empty = KvCache.empty(decoder.environment(), decoder.descriptor(), batch)) {
            DecoderOutput out = decoder.forward(ids, mask, pos, batch, seq, empty, adapter, OrtDecoder.Logits.LAST);
            try {
                return new OrtWave(out, toArray(out.logits()));
            } catch (RuntimeException e) {
                out.close();
                throw e;
            }
        }
    }

    private final class OrtWave implements Wave {
        private KvCache kv;
        private AutoCloseable owner;
        private float[] logits;

        OrtWave(DecoderOutput prefill, float[] logits) {
            this.kv = prefill.presentCache();
            this.owner = prefill;
            this.logits = logits;
        }

        @Override
        public float[] lastLogits() { return logits; }

        @Override
        public void selectRows(long[] rows) throws OrtException {
            KvCache selected = gather.gather(kv, rows);
            closeOwner();
            kv = selected;
            owner = selected;
        }

        @Override
        public float[] step(long[] ids, long[] mask, long[] pos, int batch, AdapterBinding adapter) throws OrtException {
            DecoderOutput out = decoder.forward(ids, mask, pos, batch, 1, kv, adapter, OrtDecoder.Logits.LAST);
            try {
                logits = toArray(out.logits());
            } catch (RuntimeException e) {
                out.close();
                throw e;
            }
            closeOwner();
            kv = out.presentCache();
            owner = out;
            return logits;
        }

        private void closeOwner() {
            try {
                owner.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing KV cache tensors", e);
            }
        }

        @Override
        public void close() {
            if (owner != null) {
                closeOwner();
                owner = null;
            }
        }
    }

    /** ONNX Runtime's Java API already copies outputs into a heap buffer: use its array when it has one. */
    static float[] toArray(FloatBuffer b) {
        if (b.hasArray() && b.arrayOffset() == 0 && b.position() == 0 && b.remaining() == b.array().length) return b.array();
        float[] a = new float[b.remaining()];
        b.get(a);
        return a;
    }

    @Override
    public void close() throws OrtException {
        gather.close();
    }
}
