package dev.tina.export.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes safetensors files and sharded checkpoints by streaming: the header is computed from the
 * planned tensors first, then each tensor's bytes are produced straight into the file. Every file
 * is written under a temporary name and renamed into place.
 */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Produces exactly {@code numel × dtype.byteSize()} bytes of one tensor into the channel. */
    @FunctionalInterface
    public interface Content {
        void writeTo(WritableByteChannel out) throws IOException;
    }

    public record Planned(String name, DType dtype, long[] shape, Content content) {
        public long byteSize() { return TensorView.numel(shape) * dtype.byteSize(); }

        /** A float32 tensor held in a Java array, written little-endian when the file is written. */
        public static Planned f32(String name, long[] shape, float[] values) {
            if (TensorView.numel(shape) != values.length) {
                throw new IllegalArgumentException("tensor '" + name + "': " + values.length + " values for shape " + java.util.Arrays.toString(shape));
            }
            return new Planned(name, DType.F32, shape, ch -> {
                ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                buf.asFloatBuffer().put(values);
                while (buf.hasRemaining()) ch.write(buf);
            });
        }
    }

    private SafetensorsWriter() {}

    /** Writes one safetensors file with the tensors in the given order. */
    public static void write(Path file, Map<String, String> metadata, List<Planned> tensors) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Planned t : tensors) {
            ObjectNode n = header.putObject(t.name());
            n.put("dtype", t.dtype().name());
            var shape = n.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            n.putArray("data_offsets").add(offset).add(offset + t.byteSize());
            offset += t.byteSize();
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8; // the format pads the header with spaces to 8 bytes
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();

        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            TensorView.writeFully(ch, head);
            long dataStart = ch.position();
            long expected = dataStart;
            for (Planned t : tensors) {
                t.content().writeTo(ch);
                expected += t.byteSize();
                if (ch.position() != expected) {
                    throw new IllegalStateException("tensor '" + t.name() + "' wrote " + (ch.position() - expected + t.byteSize())
                            + " bytes, expected " + t.byteSize());
                }
            }
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * Writes a Hugging Face weight set into {@code dir}: {@code model.safetensors} when
     * {@code shards == 1}, otherwise {@code model-0000k-of-0000n.safetensors} files of roughly
     * equal size and {@code model.safetensors.index.json}.
     */
    public static void writeCheckpoint(Path dir, List<Planned> tensors, int shards) throws IOException {
        if (shards < 1) throw new IllegalArgumentException("shards must be at least 1, got " + shards);
        Map<String, String> meta = Map.of("format", "pt");
        if (shards == 1) {
            write(dir.resolve("model.safetensors"), meta, tensors);
            return;
        }
        long total = tensors.stream().mapToLong(Planned::byteSize).sum();
        long target = (total + shards - 1) / shards;
        List<List<Planned>> groups = new ArrayList<>();
        List<Planned> cur = new ArrayList<>();
        long curBytes = 0;
        for (Planned t : tensors) {
            if (!cur.isEmpty() && curBytes + t.byteSize() > target && groups.size() < shards - 1) {
                groups.add(cur);
                cur = new ArrayList<>();
                curBytes = 0;
            }
            cur.add(t);
            curBytes += t.byteSize();
        }
        groups.add(cur);
        int n = groups.size();
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (int k = 0; k < n; k++) {
            String name = String.format("model-%05d-of-%05d.safetensors", k + 1, n);
            write(dir.resolve(name), meta, groups.get(k));
            for (Planned t : groups.get(k)) weightMap.put(t.name(), name);
        }
        ObjectNode index = JSON.createObjectNode();
        index.putObject("metadata").put("total_size", total);
        ObjectNode wm = index.putObject("weight_map");
        weightMap.forEach(wm::put);
        writeJsonAtomically(dir.resolve("model.safetensors.index.json"), index);
    }

    public static void writeJsonAtomically(Path file, Object value) throws IOException {
        dev.tina.export.AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(value));
    }
}
