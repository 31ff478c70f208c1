package dev.tina.training.layered;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.runtime.SessionSettings;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * One ONNX Runtime session per piece of the layered pass ({@link LayerGraphs}), shared by every
 * layer, each run timed (seconds and runs per piece: where a step's time goes). Forward-only
 * passes open no backward pieces. Owns and closes the sessions.
 */
final class LayerSessions implements AutoCloseable {
    final OrtSession embed, attnIn, tile, mlp, norm, head;
    /** Null in a forward-only pass. */
    final OrtSession attnInVjp, tileVjp, mlpVjp, normVjp;
    /** Each session, in opening order, with its name and {nanoseconds, runs} so far. */
    private final Map<OrtSession, String> names = new LinkedHashMap<>();
    private final Map<OrtSession, long[]> timing = new HashMap<>();
    private final OrtEnvironment env;

    LayerSessions(OrtEnvironment env, LayerGraphs graphs, LossHead lossHead, boolean backward) throws Exception {
        this.env = env;
        try {
            this.embed = open(graphs.embed());
            this.attnIn = open(graphs.attentionIn(false));
            this.tile = open(graphs.attentionTile(false));
            this.mlp = open(graphs.attentionOutAndMlp(false));
            this.norm = open(graphs.finalNorm(false));
            this.head = open(graphs.headChunk(lossHead, backward));
            this.attnInVjp = backward ? open(graphs.attentionIn(true)) : null;
            this.tileVjp = backward ? open(graphs.attentionTile(true)) : null;
            this.mlpVjp = backward ? open(graphs.attentionOutAndMlp(true)) : null;
            this.normVjp = backward ? open(graphs.finalNorm(true)) : null;
        } catch (Exception | Error e) {
            try {
                close();
            } catch (OrtException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    private OrtSession open(GraphBuilder g) throws OrtException {
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setDeterministicCompute(true);
            // Ten sessions' intra-op threads spinning after each of their many short runs burned half
            // of the step's CPU time: stories15M 8 × 256, 4.5 CPU-s a step spinning, 2.5 without
            // (the whole graph's 2.5), docs/training.md.
            SessionSettings.Spinning.FALSE.addTo(o);
            var model = TrainingGraph.model(g);
            String name = model.getGraph().getName().replaceFirst("^tina_", "");
            String profile = System.getProperty("tina.layered.profile"); // a folder: ONNX Runtime's per-node timings, one JSON per piece
            if (profile != null) o.enableProfiling(Path.of(profile, name).toString());
            // ONNX Runtime's arena keeps each session's peak transients resident (the sum over the
            // pieces, not the largest), but without it every run maps fresh pages: measured at 40M ×
            // 1,024 tokens, 1.28 GB peak and 3.1 CPU-s a step with it, 0.75 GB and 6.3 CPU-s without.
            OrtSession s = env.createSession(model.toByteArray(), o);
            names.put(s, name);
            timing.put(s, new long[2]);
            return s;
        }
    }

    /** Runs {@code session} (one of these), writing the {@code pinned} outputs in place and returning the {@code requested} ones. */
    OrtSession.Result run(OrtSession session, Map<String, OnnxTensor> feed, Map<String, ? extends OnnxValue> pinned,
                          Set<String> requested) throws OrtException {
        long t0 = System.nanoTime();
        OrtSession.Result r = session.run(feed, requested, pinned);
        long[] t = timing.get(session);
        t[0] += System.nanoTime() - t0;
        t[1]++;
        return r;
    }

    /** Seconds and runs per piece since the sessions opened. */
    String timings() {
        StringBuilder sb = new StringBuilder();
        names.forEach((s, name) -> sb.append(String.format(Locale.ROOT, "%s %.2fs/%d  ", name, timing.get(s)[0] / 1e9, timing.get(s)[1])));
        return sb.toString().trim();
    }

    @Override
    public void close() throws OrtException {
        OrtException first = null;
        for (OrtSession s : names.keySet()) {
            try {
                s.close();
            } catch (OrtException e) {
                if (first == null) first = e;
                else first.addSuppressed(e);
            }
        }
        names.clear();
        if (first != null) throw first;
    }
}
