package dev.tina.tools.serve;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.onnx.proto.Onnx.GraphProto;
import dev.tina.export.onnx.proto.Onnx.ModelProto;
import dev.tina.export.onnx.proto.Onnx.TensorShapeProto;
import dev.tina.export.onnx.proto.Onnx.TypeProto;
import dev.tina.export.onnx.proto.Onnx.ValueInfoProto;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.OrtDecoder;

import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Rows of different adapters in one engine call: the export's in-place graph computes each LoRA
 * projection as {@code base + ((x Aᵀ) ⊙ lora_scale) Bᵀ}; with the active adapters' A factors
 * stacked along the rank axis, their B factors side by side, and {@code lora_scale} a
 * [rows, Σ rank] matrix holding each row's scale on its own adapter's columns and 0 elsewhere (0
 * everywhere for base-model rows), every row gets exactly its adapter's term: the other columns
 * contribute exact zeros. The export declares {@code lora_scale} as [1]; this class opens the
 * same graph with that input re-declared [rows, rank] (the graph file is read, its declaration
 * changed in memory and the session created from the bytes, the weights still read from the
 * export folder), so nothing on disk changes. Owns its session and the stacked factors (one set
 * per combination of adapters, the last few kept).
 */
final class MixedLora implements AutoCloseable {
    private static final int CACHED_STACKS = 4;
    private final OrtEnvironment env;
    private final OrtSession session;
    /** Stacked factors by the sorted group ids they hold, least recently used first. */
    private final LinkedHashMap<List<Long>, Stack> stacks = new LinkedHashMap<>(8, 0.75f, true);

    /** A and B of several adapters stacked; each group's first column. */
    private record Stack(Map<String, OnnxTensor> factors, Map<Long, Integer> offsets, int rank) {
        void close() { factors.values().forEach(OnnxTensor::close); }
    }

    MixedLora(OrtDecoder decoder) throws Exception {
        this.env = decoder.environment();
        Path dir = decoder.dir();
        ModelProto model = ModelProto.parseFrom(Files.readAllBytes(dir.resolve(OrtDecoder.Graph.IN_PLACE.file)));
        GraphProto.Builder graph = model.getGraph().toBuilder();
        boolean found = false;
        for (int i = 0; i < graph.getInputCount(); i++) {
            if (!graph.getInput(i).getName().equals(DecoderGraph.LORA_SCALE)) continue;
            TensorShapeProto shape = TensorShapeProto.newBuilder()
                    .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("lora_rows"))
                    .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("lora_rank")).build();
            ValueInfoProto in = graph.getInput(i);
            graph.setInput(i, in.toBuilder().setType(TypeProto.newBuilder().setTensorType(
                    in.getType().getTensorType().toBuilder().setShape(shape))).build());
            found = true;
        }
        if (!found) throw new IllegalArgumentException(dir + ": the export has no LoRA inputs (exported with --lora-targets none)");
        byte[] bytes = model.toBuilder().setGraph(graph).build().toByteArray();
        try (OrtSession.SessionOptions o = decoder.settings().toOptions()) {
            // the graph comes from memory: its external weights are read from the export folder
            o.addConfigEntry("session.model_external_initializers_file_folder_path", dir.toString());
            // toOptions() applies -Dtina.ort.spinning (default: no spinning once a run returns, so the HTTP threads get the cores between steps)
            this.session = env.createSession(bytes, o);
        }
    }

    OrtSession session() { return session; }

    /**
     * Graph inputs for {@code rows} rows, row r decoding with {@code bindings[r]} (its adapter's
     * binding, {@code groups[r]} its id; the base model's binding has rank 0). Close the result
     * after the call (it owns the scale only).
     */
    AdapterBinding forRows(AdapterBinding[] bindings, long[] groups, int rows) throws OrtException {
        // the distinct adapters with factors, in a fixed order
        Map<Long, AdapterBinding> present = new LinkedHashMap<>();
        for (int r = 0; r < rows; r++) if (bindings[r].rank() > 0) present.putIfAbsent(groups[r], bindings[r]);
        List<Long> key = new ArrayList<>(present.keySet());
        key.sort(Long::compare);
        Map<String, OnnxTensor> factors;
        Map<Long, Integer> offsets = new LinkedHashMap<>();
        int rank;
        if (key.size() <= 1) {
            // nothing to stack: the one adapter's own factors (or the base model's empty ones)
            AdapterBinding only = key.isEmpty() ? bindings[0] : present.get(key.getFirst());
            factors = factorsOf(only);
            rank = only.rank();
            if (!key.isEmpty()) offsets.put(key.getFirst(), 0);
        } else {
            Stack s = stacks.get(key);
            if (s == null) {
                s = stack(key, present);
                stacks.put(key, s);
                if (stacks.size() > CACHED_STACKS) {
                    var eldest = stacks.entrySet().iterator();
                    eldest.next().getValue().close();
                    eldest.remove();
                }
            }
            factors = s.factors();
            offsets.putAll(s.offsets());
            rank = s.rank();
        }
        Map<Long, Float> scales = new LinkedHashMap<>();
        for (var e : present.entrySet()) scales.put(e.getKey(), e.getValue().scale()); // once per adapter, not per row
        float[] scale = new float[rows * rank];
        for (int r = 0; r < rows; r++) {
            Integer off = offsets.get(groups[r]);
            if (off == null || bindings[r].rank() == 0) continue;
            Arrays.fill(scale, r * rank + off, r * rank + off + bindings[r].rank(), scales.get(groups[r]));
        }
        OnnxTensor scaleT = OnnxTensor.createTensor(env, FloatBuffer.wrap(scale), new long[]{rows, rank});
        return AdapterBinding.composite(factors, Map.of(DecoderGraph.LORA_SCALE, scaleT), rank);
    }

    private static Map<String, OnnxTensor> factorsOf(AdapterBinding b) {
        Map<String, OnnxTensor> f = new LinkedHashMap<>(b.tensors());
        f.remove(DecoderGraph.LORA_SCALE);
        return f;
    }

    /** A [Σr, in] = the adapters' A stacked by rows; B [out, Σr] = their B side by side. */
    private Stack stack(List<Long> key, Map<Long, AdapterBinding> present) throws OrtException {
        Map<Long, Integer> offsets = new LinkedHashMap<>();
        int total = 0;
        for (long g : key) {
            offsets.put(g, total);
            total += present.get(g).rank();
        }
        Map<String, OnnxTensor> out = new LinkedHashMap<>();
        try {
            for (String name : factorsOf(present.get(key.getFirst())).keySet()) {
                long[] shape = present.get(key.getFirst()).tensors().get(name).getInfo().getShape();
                boolean isA = name.endsWith("lora_A.weight");
                int in = (int) shape[1], outF = (int) shape[0];
                float[] data = new float[isA ? total * in : outF * total];
                for (long g : key) {
                    AdapterBinding b = present.get(g);
                    int r = b.rank(), off = offsets.get(g);
                    FloatBuffer src = b.tensors().get(name).getFloatBuffer();
                    if (isA) {
                        src.get(data, off * in, r * in); // rows off … off + r of A
                    } else {
                        for (int o = 0; o < outF; o++) src.get(o * r, data, o * total + off, r); // columns off … off + r of B
                    }
                }
                out.put(name, OnnxTensor.createTensor(env, FloatBuffer.wrap(data), isA ? new long[]{total, in} : new long[]{outF, total}));
            }
        } catch (OrtException | RuntimeException e) {
            out.values().forEach(OnnxTensor::close);
            throw e;
        }
        return new Stack(out, offsets, total);
    }

    @Override
    public void close() throws OrtException {
        stacks.values().forEach(Stack::close);
        stacks.clear();
        session.close();
    }
}
