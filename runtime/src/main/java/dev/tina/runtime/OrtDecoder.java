package dev.tina.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.onnx.DecoderGraph;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;
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

    /** Which logits a forward pass computes. */
    public enum Logits {
        /** [batch, seq, vocab]: scoring, parity. */
        ALL(DecoderGraph.LOGITS),
        /** [batch, vocab] at the last position: sampling (skips the head elsewhere). */
        LAST(DecoderGraph.LAST_LOGITS);

        final String output;

        Logits(String output) { this.output = output; }
    }

    /**
     * Runs the decoder on [batch, seq] token ids with a [batch, past + seq] attention mask,
     * computing all logits. The caller keeps ownership of {@code past} and {@code adapter}.
     */
    public DecoderOutput forward(long[][] inputIds, long[][] attentionMask, long[][] positionIds,
                                 KvCache past, AdapterBinding adapter) throws OrtException {
        int batch = inputIds.length;
        if (attentionMask.length != batch || positionIds.length != batch) {
            throw new IllegalArgumentException("input_ids, attention_mask and position_ids must have the same batch size");
        }
        return forward(flatten(inputIds), flatten(attentionMask), flatten(positionIds), batch, inputIds[0].length,
                past, adapter, Logits.ALL);
    }

    /**
     * Runs the decoder on row-major [batch, seq] ids and positions and a [batch, past + seq] mask.
     * Inputs go to ONNX Runtime as direct buffers (no copy on its side).
     */
    public DecoderOutput forward(long[] inputIds, long[] attentionMask, long[] positionIds, int batch, int seq,
                                 KvCache past, AdapterBinding adapter, Logits logits) throws OrtException {
        ensureOpen();
        if (past.batchSize() != batch) throw new IllegalArgumentException("KV cache batch " + past.batchSize() + " != " + batch);
        long total = past.length() + seq;
        if (inputIds.length != (long) batch * seq || positionIds.length != (long) batch * seq || attentionMask.length != batch * total) {
            throw new IllegalArgumentException("expected input_ids and position_ids of " + batch + "×" + seq
                    + " and attention_mask of " + batch + "×" + total + " (past " + past.length() + " + " + seq + ")");
        }
        try (OnnxTensor ids = OnnxTensor.createTensor(env, direct(inputIds), new long[]{batch, seq});
             OnnxTensor mask = OnnxTensor.createTensor(env, direct(attentionMask), new long[]{batch, total});
             OnnxTensor pos = OnnxTensor.createTensor(env, direct(positionIds), new long[]{batch, seq})) {
            Map<String, OnnxTensor> in = new LinkedHashMap<>();
            in.put("input_ids", ids);
            in.put("attention_mask", mask);
            in.put("position_ids", pos);
            for (int i = 0; i < descriptor.numLayers(); i++) {
                in.put(DecoderGraph.pastKey(i), past.key(i));
                in.put(DecoderGraph.pastValue(i), past.value(i));
            }
            adapter.addInputs(in, descriptor);
            return new DecoderOutput(session.run(in, outputNames(logits)), descriptor, batch, seq, logits);
        }
    }

    private Set<String> outputNames(Logits logits) {
        Set<String> names = new LinkedHashSet<>();
        names.add(logits.output);
        for (int i = 0; i < descriptor.numLayers(); i++) {
            names.add(DecoderGraph.presentKey(i));
            names.add(DecoderGraph.presentValue(i));
        }
        return names;
    }

    private static LongBuffer direct(long[] v) {
        LongBuffer b = ByteBuffer.allocateDirect(v.length * Long.BYTES).order(ByteOrder.nativeOrder()).asLongBuffer();
        b.put(v).flip();
        return b;
    }

    private static long[] flatten(long[][] m) {
        int cols = m[0].length;
        long[] out = new long[m.length * cols];
        for (int i = 0; i < m.length; i++) {
            if (m[i].length != cols) throw new IllegalArgumentException("ragged rows: row " + i + " has " + m[i].length + " columns, expected " + cols);
            System.arraycopy(m[i], 0, out, i * cols, cols);
        }
        return out;
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
