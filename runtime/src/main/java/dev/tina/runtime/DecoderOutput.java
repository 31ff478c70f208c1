package dev.tina.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.onnx.DecoderGraph;

import java.nio.FloatBuffer;

/** The outputs of one forward pass; owns them until closed (including the KV-cache view). */
public final class DecoderOutput implements AutoCloseable {
    private final OrtSession.Result result;
    private final ModelDescriptor d;
    private final int batch, seq;
    private final OrtDecoder.Logits logits;

    DecoderOutput(OrtSession.Result result, ModelDescriptor d, int batch, int seq, OrtDecoder.Logits logits) {
        this.result = result;
        this.d = d;
        this.batch = batch;
        this.seq = seq;
        this.logits = logits;
    }

    /** The logits computed: [batch, seq, vocab] or, for {@code Logits.LAST}, [batch, vocab]; row-major, a copy. */
    public FloatBuffer logits() {
        return ((OnnxTensor) result.get(logits.output).orElseThrow()).getFloatBuffer();
    }

    /** The present KV cache as a view valid while this output is open. */
    public KvCache presentCache() {
        int n = d.numLayers();
        OnnxTensor[] k = new OnnxTensor[n], v = new OnnxTensor[n];
        for (int i = 0; i < n; i++) {
            k[i] = (OnnxTensor) result.get(DecoderGraph.presentKey(i)).orElseThrow();
            v[i] = (OnnxTensor) result.get(DecoderGraph.presentValue(i)).orElseThrow();
        }
        long len = k[0].getInfo().getShape()[2];
        return new KvCache(k, v, batch, len, null);
    }

    public int batchSize() { return batch; }

    public int sequenceLength() { return seq; }

    @Override
    public void close() {
        result.close();
    }
}
