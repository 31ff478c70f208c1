package dev.tina.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.onnx.DecoderGraph;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One ONNX Runtime session over an exported decoder. Owns the session; {@link #close()} releases
 * it. Forward passes take a KV cache and an adapter binding and return a {@link DecoderOutput}
 * that owns the output tensors.
 */
public final class OrtDecoder implements AutoCloseable {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final ModelDescriptor descriptor;
    private final Path dir;
    private boolean closed;

    private OrtDecoder(OrtEnvironment env, OrtSession session, ModelDescriptor descriptor, Path dir) {
        this.env = env;
        this.session = session;
        this.descriptor = descriptor;
        this.dir = dir;
    }

    /** Opens an exported folder on the CPU execution provider. */
    public static OrtDecoder open(Path exportDir) throws Exception {
        return open(exportDir, SessionSettings.cpu());
    }

    public static OrtDecoder open(Path exportDir, SessionSettings settings) throws Exception {
        ModelDescriptor d = ModelDescriptor.read(exportDir);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = settings.toOptions()) {
            OrtSession s = env.createSession(exportDir.resolve(d.onnxFile()).toString(), opts);
            return new OrtDecoder(env, s, d, exportDir);
        }
    }

    public ModelDescriptor descriptor() { return descriptor; }

    public OrtEnvironment environment() { return env; }

    public Path dir() { return dir; }

    /**
     * Runs the decoder on [batch, seq] token ids with a [batch, past + seq] attention mask.
     * The caller keeps ownership of {@code past} and {@code adapter}.
     */
    public DecoderOutput forward(long[][] inputIds, long[][] attentionMask, long[][] positionIds,
                                 KvCache past, AdapterBinding adapter) throws OrtException {
        ensureOpen();
        int batch = inputIds.length;
        if (attentionMask.length != batch || positionIds.length != batch) {
            throw new IllegalArgumentException("input_ids, attention_mask and position_ids must have the same batch size");
        }
        if (past.batchSize() != batch) throw new IllegalArgumentException("KV cache batch " + past.batchSize() + " != " + batch);
        if (attentionMask[0].length != past.length() + inputIds[0].length) {
            throw new IllegalArgumentException("attention_mask length " + attentionMask[0].length + " != past " + past.length()
                    + " + sequence " + inputIds[0].length);
        }
        try (OnnxTensor ids = OnnxTensor.createTensor(env, inputIds);
             OnnxTensor mask = OnnxTensor.createTensor(env, attentionMask);
             OnnxTensor pos = OnnxTensor.createTensor(env, positionIds)) {
            Map<String, OnnxTensor> in = new LinkedHashMap<>();
            in.put("input_ids", ids);
            in.put("attention_mask", mask);
            in.put("position_ids", pos);
            for (int i = 0; i < descriptor.numLayers(); i++) {
                in.put(DecoderGraph.pastKey(i), past.key(i));
                in.put(DecoderGraph.pastValue(i), past.value(i));
            }
            adapter.addInputs(in, descriptor);
            return new DecoderOutput(session.run(in), descriptor, batch, inputIds[0].length);
        }
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("decoder session for " + dir + " is closed");
    }

    @Override
    public void close() throws OrtException {
        if (!closed) {
            closed = true;
            session.close();
        }
    }
}
