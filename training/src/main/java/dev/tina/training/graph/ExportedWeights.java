package dev.tina.training.graph;

import dev.tina.export.ModelDescriptor;
import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.export.onnx.proto.Onnx.ModelProto;
import dev.tina.export.onnx.proto.Onnx.TensorProto;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The base weights of an exported model, reused by reference: a training graph written next to
 * {@code model.onnx} points its initializers at the same {@code model.onnx.data}, so the weights
 * are neither copied nor rewritten (7 GB at 1.5B).
 */
public final class ExportedWeights implements DecoderGraph.WeightSource {
    private final Map<String, TensorProto> initializers = new HashMap<>();
    private final Path file;

    public ExportedWeights(Path exportDir) throws IOException {
        ModelDescriptor d = ModelDescriptor.read(exportDir);
        this.file = exportDir.resolve(d.onnxFile());
        ModelProto m;
        try (InputStream in = Files.newInputStream(file)) {
            m = ModelProto.parseFrom(in);
        }
        for (TensorProto t : m.getGraph().getInitializerList()) {
            if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) initializers.put(t.getName(), t);
        }
    }

    @Override
    public DType add(GraphBuilder g, String name, long[] shape) {
        TensorProto t = initializers.get(name);
        if (t == null) throw new CheckpointFormatException(file + ": no external weight '" + name + "'");
        long[] dims = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
        if (!Arrays.equals(dims, shape)) {
            throw new CheckpointFormatException(file + ": weight '" + name + "' has shape " + Arrays.toString(dims) + ", expected " + Arrays.toString(shape));
        }
        g.addInitializer(t);
        for (DType d : DType.values()) if (d.onnxCode() == t.getDataType()) return d;
        throw new CheckpointFormatException(file + ": weight '" + name + "' has ONNX data type " + t.getDataType());
    }
}
