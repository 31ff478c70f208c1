package dev.tina.export.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory-mapped safetensors file. The header is validated on open (JSON well-formed, every
 * tensor's byte range inside the file, sizes equal to shape × dtype, no two ranges overlapping);
 * tensor data is never copied onto the heap. Owns its mapping: {@link #close()} unmaps it, after
 * which every {@link TensorView} it handed out is invalid.
 */
public final class SafetensorsFile implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The format's own limit on header size (100 MB), which also rejects garbage lengths early. */
    private static final long MAX_HEADER = 100L << 20;

    private final Path path;
    private final Arena arena;
    private final Map<String, TensorView> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, Map<String, TensorView> tensors, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafetensorsFile open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new CheckpointFormatException(path + ": truncated safetensors file (" + size + " bytes, no header length)");
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLen = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > size - 8) {
                throw new CheckpointFormatException(path + ": safetensors header length " + headerLen
                        + " does not fit a file of " + size + " bytes (truncated or not a safetensors file)");
            }
            byte[] header = all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
            MemorySegment data = all.asSlice(8 + headerLen);
            var parsed = parseHeader(path, new String(header, StandardCharsets.UTF_8), data);
            return new SafetensorsFile(path, arena, parsed.tensors, parsed.metadata);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private record Header(Map<String, TensorView> tensors, Map<String, String> metadata) {}

    private static Header parseHeader(Path path, String text, MemorySegment data) {
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new CheckpointFormatException(path + ": safetensors header is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) throw new CheckpointFormatException(path + ": safetensors header is not a JSON object");
        Map<String, TensorView> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        long dataSize = data.byteSize();
        List<long[]> ranges = new ArrayList<>();
        List<String> rangeNames = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            var e = it.next();
            String name = e.getKey();
            JsonNode t = e.getValue();
            if (name.equals("__metadata__")) {
                t.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            String where = path + ": tensor '" + name + "'";
            if (!t.hasNonNull("dtype") || !t.has("shape") || !t.has("data_offsets")) {
                throw new CheckpointFormatException(where + ": header entry lacks dtype, shape or data_offsets");
            }
            DType dtype = DType.fromSafetensors(t.get("dtype").asText(), where);
            JsonNode shapeNode = t.get("shape");
            long[] shape = nonNegativeInts(shapeNode, where + ": shape must be an array of non-negative integers, got " + shapeNode);
            JsonNode off = t.get("data_offsets");
            long[] range = nonNegativeInts(off, where + ": data_offsets must be [begin, end] of non-negative integers, got " + off);
            if (range.length != 2) throw new CheckpointFormatException(where + ": data_offsets must be [begin, end], got " + off);
            long begin = range[0], end = range[1];
            if (end < begin) throw new CheckpointFormatException(where + ": invalid data_offsets " + off + " (end before begin)");
            if (end > dataSize) {
                throw new CheckpointFormatException(where + ": data_offsets " + off + " run past the end of the data ("
                        + dataSize + " bytes; file truncated?)");
            }
            long expected;
            try {
                expected = Math.multiplyExact(TensorView.numel(shape), dtype.byteSize());
            } catch (ArithmeticException ex) {
                throw new CheckpointFormatException(where + ": shape " + shapeNode + " overflows");
            }
            if (end - begin != expected) {
                throw new CheckpointFormatException(where + ": " + (end - begin) + " bytes in data_offsets, but shape "
                        + shapeNode + " × " + dtype + " needs " + expected);
            }
            ranges.add(new long[]{begin, end});
            rangeNames.add(name);
            tensors.put(name, new TensorView(name, dtype, shape, data.asSlice(begin, end - begin), path.toString()));
        }
        checkNoOverlap(path, ranges, rangeNames);
        return new Header(Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    private static long[] nonNegativeInts(JsonNode node, String error) {
        if (node == null || !node.isArray()) throw new CheckpointFormatException(error);
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode x = node.get(i);
            if (!x.isIntegralNumber() || !x.canConvertToLong() || x.asLong() < 0) throw new CheckpointFormatException(error);
            out[i] = x.asLong();
        }
        return out;
    }

    private static void checkNoOverlap(Path path, List<long[]> ranges, List<String> names) {
        Integer[] order = new Integer[ranges.size()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        java.util.Arrays.sort(order, Comparator.comparingLong(i -> ranges.get(i)[0]));
        // Sorted by start, a range overlaps an earlier one iff it starts before the furthest end so far.
        long maxEnd = 0;
        int maxOwner = -1;
        for (int k : order) {
            long[] cur = ranges.get(k);
            if (cur[1] == cur[0]) continue; // empty tensors occupy no bytes
            if (cur[0] < maxEnd) {
                throw new CheckpointFormatException(path + ": tensors '" + names.get(maxOwner) + "' and '"
                        + names.get(k) + "' overlap in the data section");
            }
            maxEnd = cur[1];
            maxOwner = k;
        }
    }

    public Path path() { return path; }

    public Map<String, TensorView> tensors() { return tensors; }

    public Map<String, String> metadata() { return metadata; }

    /** The named tensor; a clear error naming the file when it is absent. */
    public TensorView tensor(String name) {
        TensorView t = tensors.get(name);
        if (t == null) throw new CheckpointFormatException(path + ": missing tensor '" + name + "'");
        return t;
    }

    @Override
    public void close() {
        arena.close();
    }
}
