package dev.tina.training.ort;

import com.google.flatbuffers.FlatBufferBuilder;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes ONNX Runtime's on-device-training checkpoint: a flatbuffer with file identifier
 * {@code ODTC}, schema {@code ort_training_checkpoint.fbs} (root {@code Checkpoint}: version,
 * module_state) over {@code ort.fbs}'s {@code Tensor}. Built with the flatbuffers runtime's
 * builder directly: the schema is small and stable, and generated classes would need flatc.
 * Only the initial checkpoint is written here; ONNX Runtime writes the later ones
 * (with optimizer state) itself.
 */
public final class CheckpointWriter {
    /** The version ONNX Runtime 1.24 accepts (it refused 1 and 3 in a probe). */
    static final int VERSION = 2;
    private static final int FLOAT = 1;

    private CheckpointWriter() {}

    /** Trainable float32 parameters, name → (shape, values); no frozen parameters. */
    public record Param(long[] shape, float[] values) {}

    public static void write(Path file, Map<String, Param> trainable) throws IOException {
        FlatBufferBuilder fb = new FlatBufferBuilder(1 << 16);
        List<Integer> tensors = new ArrayList<>();
        for (var e : trainable.entrySet()) tensors.add(tensor(fb, e.getKey(), e.getValue()));
        int requires = fb.createVectorOfTables(tensors.stream().mapToInt(Integer::intValue).toArray());
        int frozen = fb.createVectorOfTables(new int[0]); // must be present even when empty
        fb.startTable(4);
        fb.addOffset(0, requires, 0);
        fb.addOffset(1, frozen, 0);
        int module = fb.endTable();
        fb.startTable(4);
        fb.addInt(0, VERSION, 0);
        fb.addOffset(1, module, 0);
        int root = fb.endTable();
        fb.finish(root, "ODTC");
        byte[] bytes = fb.sizedByteArray();
        dev.tina.export.AtomicFiles.write(file, tmp -> Files.write(tmp, bytes));
    }

    private static int tensor(FlatBufferBuilder fb, String name, Param p) {
        int nameOff = fb.createString(name);
        fb.startVector(8, p.shape().length, 8);
        for (int i = p.shape().length - 1; i >= 0; i--) fb.addLong(p.shape()[i]);
        int dims = fb.endVector();
        ByteBuffer raw = ByteBuffer.allocate(p.values().length * 4).order(ByteOrder.LITTLE_ENDIAN);
        raw.asFloatBuffer().put(p.values());
        int data = fb.createByteVector(raw.array());
        fb.startTable(7);
        fb.addOffset(0, nameOff, 0);
        fb.addOffset(2, dims, 0);
        fb.addInt(3, FLOAT, 0);
        fb.addOffset(4, data, 0);
        fb.addLong(6, -1L, 0L); // external_data_offset: -1 = inline (schema default is -1; written explicitly)
        return fb.endTable();
    }
}
