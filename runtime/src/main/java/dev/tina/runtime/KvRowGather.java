package dev.tina.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.onnx.GraphBuilder;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Selects (and repeats) batch rows of a KV cache inside ONNX Runtime: one {@code Gather} per
 * tensor in a tiny graph built here, so that fanning a prompt's cache out to its n samples, or
 * dropping finished sequences, never copies the cache through Java.
 */
public final class KvRowGather implements AutoCloseable {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final int layers;

    public KvRowGather(OrtEnvironment env, ModelDescriptor d) throws OrtException {
        this.env = env;
        this.layers = d.numLayers();
        GraphBuilder g = new GraphBuilder("kv_row_gather", null);
        g.input("rows", GraphBuilder.INT64, "out_batch");
        for (int i = 0; i < 2 * layers; i++) {
            g.input("in." + i, GraphBuilder.FLOAT, "batch", d.numKeyValueHeads(), "length", d.headDim());
            g.opNamed("Gather", "out." + i, List.of("in." + i, "rows"), GraphBuilder.attr("axis", 0L));
            g.output("out." + i, GraphBuilder.FLOAT, "out_batch", d.numKeyValueHeads(), "length", d.headDim());
        }
        byte[] model = GraphBuilder.model(g.build()).build().toByteArray();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            this.session = env.createSession(model, o);
        }
    }

    /** A new cache whose row i is row {@code rows[i]} of {@code src}; {@code src} stays the caller's. */
    public KvCache gather(KvCache src, long[] rows) throws OrtException {
        LongBuffer idx = ByteBuffer.allocateDirect(rows.length * Long.BYTES).order(ByteOrder.nativeOrder()).asLongBuffer();
        idx.put(rows).flip();
        try (OnnxTensor index = OnnxTensor.createTensor(env, idx, new long[]{rows.length})) {
            Map<String, OnnxTensor> in = new LinkedHashMap<>();
            in.put("rows", index);
            for (int i = 0; i < layers; i++) {
                in.put("in." + (2 * i), src.key(i));
                in.put("in." + (2 * i + 1), src.value(i));
            }
            OrtSession.Result r = session.run(in);
            OnnxTensor[] k = new OnnxTensor[layers], v = new OnnxTensor[layers];
            for (int i = 0; i < layers; i++) {
                k[i] = (OnnxTensor) r.get("out." + (2 * i)).orElseThrow();
                v[i] = (OnnxTensor) r.get("out." + (2 * i + 1)).orElseThrow();
            }
            return new KvCache(k, v, rows.length, src.length(), r);
        }
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
