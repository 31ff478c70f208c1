package dev.tina.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.export.DecoderExporter;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.onnx.DecoderGraph;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
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
    private final SessionSettings settings;
    private final Map<Graph, OrtSession> sessions = new EnumMap<>(Graph.class);
    private final ModelDescriptor descriptor;
    private final Path dir;
    private boolean closed;
    private final boolean quantized;

    /**
     * The graphs of an export. Each gets its own session, opened on first use, so that a process
     * that only samples on the CPU never loads the others (each session holds the weights unless
     * they are {@link SharedWeights}).
     */
    public enum Graph {
        /** Concatenating cache, last-position logits: sampling on CUDA (no fp32 GroupQueryAttention there). */
        SAMPLING(DecoderExporter.ONNX_FILE),
        /** Concatenating cache, logits at every position: parity, scoring. */
        FULL_LOGITS(DecoderExporter.FULL_LOGITS_FILE),
        /** GroupQueryAttention over caches written in place: sampling on the CPU. */
        IN_PLACE(DecoderExporter.IN_PLACE_FILE);

        public final String file;

        Graph(String file) { this.file = file; }

        String quantizedFile(ModelDescriptor d) {
            var q = d.quantization();
            return switch (this) {
                case SAMPLING -> q.samplingFile();
                case FULL_LOGITS -> q.fullLogitsFile();
                case IN_PLACE -> q.inPlaceFile();
            };
        }
    }

    private OrtDecoder(OrtEnvironment env, SessionSettings settings, ModelDescriptor descriptor, Path dir, boolean quantized) {
        this.quantized = quantized;
        this.env = env;
        this.settings = settings;
        this.descriptor = descriptor;
        this.dir = dir;
    }

    /** Opens an exported folder on the CPU execution provider. */
    public static OrtDecoder open(Path exportDir) throws Exception {
        return open(exportDir, SessionSettings.cpu());
    }

    /** Which weights the graphs compute with, for an export that has quantized graphs. */
    public enum Precision {
        /** The quantized graphs when the export has them (inference: generate, eval, serve, bench). */
        AS_EXPORTED,
        /** The full-precision graphs always (training, reference scoring: the policy's log-probs are the model's). */
        FULL
    }

    /** Checks the export's graph files; sessions are created when first needed (quantized graphs when the export has them). */
    public static OrtDecoder open(Path exportDir, SessionSettings settings) throws Exception {
        return open(exportDir, settings, Precision.AS_EXPORTED);
    }

    public static OrtDecoder open(Path exportDir, SessionSettings settings, Precision precision) throws Exception {
        ModelDescriptor d = ModelDescriptor.read(exportDir);
        boolean quantized = precision == Precision.AS_EXPORTED && d.quantized();
        for (Graph g : Graph.values()) {
            String file = quantized ? g.quantizedFile(d) : g.file;
            if (!Files.isRegularFile(exportDir.resolve(file))) {
                throw new IllegalArgumentException(exportDir + ": " + file + " is missing; re-export the model (tina export)");
            }
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions check = settings.toOptions()) {
            // a device that cannot start (no GPU, no CUDA natives) fails here, not at the first pass
        }
        return new OrtDecoder(env, settings, d, exportDir, quantized);
    }

    /** The session over {@code graph}, created on first use; owned by this decoder. */
    public synchronized OrtSession session(Graph graph) throws OrtException {
        ensureOpen();
        OrtSession s = sessions.get(graph);
        if (s == null) {
            try (OrtSession.SessionOptions opts = settings.toOptions()) {
                s = env.createSession(dir.resolve(quantized ? graph.quantizedFile(descriptor) : graph.file).toString(), opts);
            }
            sessions.put(graph, s);
        }
        return s;
    }

    /** The settings sessions are created with (device, threads, shared weights). */
    public SessionSettings settings() { return settings; }

    public ModelDescriptor descriptor() { return descriptor; }

    /** Whether this decoder's sessions run the export's quantized graphs. */
    public boolean quantized() { return quantized; }

    public OrtEnvironment environment() { return env; }

    public Path dir() { return dir; }

    /** Which logits a forward pass computes. */
    public enum Logits {
        /** [batch, seq, vocab]: scoring, parity. */
        ALL(DecoderGraph.LOGITS, Graph.FULL_LOGITS),
        /** [batch, vocab] at the last position: sampling (the graph has no other head). */
        LAST(DecoderGraph.LAST_LOGITS, Graph.SAMPLING);

        final String output;
        final Graph graph;

        Logits(String output, Graph graph) {
            this.output = output;
            this.graph = graph;
        }
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
            return new DecoderOutput(session(logits.graph).run(in, outputNames(logits)), descriptor, batch, seq, logits);
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
    public synchronized void close() throws OrtException {
        if (!closed) {
            closed = true;
            OrtException first = null;
            for (OrtSession s : sessions.values()) {
                try {
                    s.close();
                } catch (OrtException e) {
                    if (first == null) first = e;
                }
            }
            sessions.clear();
            if (first != null) throw first;
        }
    }
}
