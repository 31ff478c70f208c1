package dev.tina.runtime;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.onnx.proto.Onnx.ModelProto;
import dev.tina.export.onnx.proto.Onnx.StringStringEntryProto;
import dev.tina.export.onnx.proto.Onnx.TensorProto;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The base weights of an export, memory-mapped once and handed to every ONNX Runtime session
 * over that export as user-owned initializers: the sampler, the gradient graph and the reference
 * scorer then read the same page-cache pages instead of each loading its own copy (7 GB each at
 * 1.5B fp32). Sessions given these must not pre-pack weights, or they copy them again. Owns the
 * mapping and the tensors; close it after the sessions that use it.
 */
public final class SharedWeights implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final Map<String, OnnxTensorLike> tensors = new LinkedHashMap<>();

    public SharedWeights(OrtEnvironment env, Path exportDir) throws IOException, OrtException {
        ModelDescriptor d = ModelDescriptor.read(exportDir);
        Path model = exportDir.resolve(d.onnxFile());
        ModelProto m;
        try (InputStream in = Files.newInputStream(model)) {
            m = ModelProto.parseFrom(in);
        }
        try (FileChannel ch = FileChannel.open(exportDir.resolve(dev.tina.export.DecoderExporter.DATA_FILE), StandardOpenOption.READ)) {
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            for (TensorProto t : m.getGraph().getInitializerList()) {
                if (t.getDataLocation() != TensorProto.DataLocation.EXTERNAL) continue;
                long offset = -1, length = -1;
                for (StringStringEntryProto e : t.getExternalDataList()) {
                    if (e.getKey().equals("offset")) offset = Long.parseLong(e.getValue());
                    if (e.getKey().equals("length")) length = Long.parseLong(e.getValue());
                }
                if (offset < 0 || length < 0 || offset + length > all.byteSize()) {
                    throw new CheckpointFormatException(model + ": initializer '" + t.getName() + "' points outside " + dev.tina.export.DecoderExporter.DATA_FILE);
                }
                OnnxJavaType type = switch (t.getDataType()) {
                    case 1 -> OnnxJavaType.FLOAT;
                    case 10 -> OnnxJavaType.FLOAT16;
                    case 16 -> OnnxJavaType.BFLOAT16;
                    default -> throw new CheckpointFormatException(model + ": initializer '" + t.getName() + "' has data type " + t.getDataType());
                };
                long[] dims = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
                tensors.put(t.getName(), OnnxTensor.createTensor(env, all.asSlice(offset, length).asByteBuffer(), dims, type));
            }
        } catch (IOException | OrtException | RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Adds the weights to a session's options (which then reads them, not the data file). */
    public void addTo(OrtSession.SessionOptions options) throws OrtException {
        for (var e : tensors.entrySet()) options.addInitializer(e.getKey(), e.getValue());
        options.addConfigEntry("session.disable_prepacking", "1");
    }

    public int size() { return tensors.size(); }

    /** The mapped tensor of a weight (owned here: do not close), to feed as a graph input. */
    public OnnxTensor tensor(String name) {
        OnnxTensorLike t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("the export has no weight '" + name + "'");
        return (OnnxTensor) t;
    }

    /** Whether the export has a weight of that name. */
    public boolean has(String name) { return tensors.containsKey(name); }

    @Override
    public void close() {
        for (OnnxTensorLike t : tensors.values()) ((OnnxTensor) t).close();
        tensors.clear();
        arena.close();
    }
}
