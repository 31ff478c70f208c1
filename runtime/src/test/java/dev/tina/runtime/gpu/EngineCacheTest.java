package dev.tina.runtime.gpu;

import dev.tina.export.ModelDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Engine cache keys and atomic writes; no GPU needed. */
class EngineCacheTest {
    static final EngineCache.Key KEY = new EngineCache.Key("graph", "weights", "NVIDIA H100 80GB HBM3", "9.0", "10.15.1", "fp16", "profiles", "SAMPLING");

    @Test
    void everyPartOfTheKeyChangesTheFileName() {
        Set<String> hashes = new HashSet<>();
        hashes.add(KEY.hash());
        hashes.add(new EngineCache.Key("graph2", "weights", "NVIDIA H100 80GB HBM3", "9.0", "10.15.1", "fp16", "profiles", "SAMPLING").hash());
        hashes.add(new EngineCache.Key("graph", "weights2", "NVIDIA H100 80GB HBM3", "9.0", "10.15.1", "fp16", "profiles", "SAMPLING").hash());
        hashes.add(new EngineCache.Key("graph", "weights", "NVIDIA H200", "9.0", "10.15.1", "fp16", "profiles", "SAMPLING").hash());
        hashes.add(new EngineCache.Key("graph", "weights", "NVIDIA H100 80GB HBM3", "8.9", "10.15.1", "fp16", "profiles", "SAMPLING").hash());
        hashes.add(new EngineCache.Key("graph", "weights", "NVIDIA H100 80GB HBM3", "9.0", "10.16.0", "fp16", "profiles", "SAMPLING").hash());
        hashes.add(new EngineCache.Key("graph", "weights", "NVIDIA H100 80GB HBM3", "9.0", "10.15.1", "bf16", "profiles", "SAMPLING").hash());
        hashes.add(new EngineCache.Key("graph", "weights", "NVIDIA H100 80GB HBM3", "9.0", "10.15.1", "fp16", "profiles2", "SAMPLING").hash());
        hashes.add(new EngineCache.Key("graph", "weights", "NVIDIA H100 80GB HBM3", "9.0", "10.15.1", "fp16", "profiles", "FULL_LOGITS").hash());
        assertEquals(9, hashes.size());
        // fields are separated: moving a character between neighbours is a different key
        assertNotEquals(new EngineCache.Key("ab", "c", "g", "9.0", "v", "p", "x", "y").hash(),
                new EngineCache.Key("a", "bc", "g", "9.0", "v", "p", "x", "y").hash());
        assertEquals(KEY.hash(), new EngineCache.Key("graph", "weights", "NVIDIA H100 80GB HBM3", "9.0", "10.15.1", "fp16", "profiles", "SAMPLING").hash());
        assertTrue(KEY.hash().matches("[0-9a-f]{64}"));
    }

    @Test
    void storeIsAtomicAndFindNeedsTheSidecar(@TempDir Path tmp) throws IOException {
        EngineCache cache = new EngineCache(tmp.resolve("engines"));
        assertTrue(cache.find(KEY).isEmpty());
        Path f = cache.store(KEY, ch -> ch.write(ByteBuffer.wrap("plan".getBytes(StandardCharsets.UTF_8))));
        assertEquals(cache.engineFile(KEY), f);
        assertEquals("plan", Files.readString(f));
        assertEquals(f, cache.find(KEY).orElseThrow());
        String side = Files.readString(EngineCache.sidecar(f));
        assertTrue(side.contains("\"gpuName\" : \"NVIDIA H100 80GB HBM3\"") && side.contains("\"engine_bytes\" : 4"), side);
        try (var s = Files.list(cache.dir())) {
            assertEquals(Set.of(f.getFileName().toString(), f.getFileName() + ".json"),
                    new HashSet<>(s.map(p -> p.getFileName().toString()).toList()));
        }
        // an engine file without its sidecar (a crash between the two renames) is not trusted
        Files.delete(EngineCache.sidecar(f));
        assertTrue(cache.find(KEY).isEmpty());
    }

    @Test
    void aFailedBuildLeavesNothing(@TempDir Path tmp) throws IOException {
        EngineCache cache = new EngineCache(tmp.resolve("engines"));
        assertThrows(IOException.class, () -> cache.store(KEY, ch -> {
            ch.write(ByteBuffer.wrap(new byte[100]));
            throw new IOException("No space left on device");
        }));
        try (var s = Files.list(cache.dir())) {
            assertEquals(List.of(), s.toList());
        }
        assertTrue(cache.find(KEY).isEmpty());
    }

    @Test
    void modelIdentityFollowsTheGraphAndBothEndsOfTheWeights(@TempDir Path tmp) throws IOException {
        Path export = tmp.resolve("export");
        Files.createDirectories(export);
        new ModelDescriptor(ModelDescriptor.FORMAT_VERSION, "t", "Qwen2ForCausalLM", "model.onnx", "float32", "float32", 1, 2, 1, 8, 16, 32,
                List.of(), List.of(1L), List.of(), Map.of(), Map.of("fingerprint", "abc")).write(export);
        Files.writeString(export.resolve("model.onnx"), "graph v1");
        Path data = export.resolve("model.onnx.data");
        int size = EngineCache.EDGE_BYTES * 2 + 4096;
        Files.write(data, new byte[size]);
        String[] id = EngineCache.modelIdentity(export);
        assertArrayEquals(id, EngineCache.modelIdentity(export));
        assertTrue(id[1].contains("size=" + size) && id[1].contains("source=abc"), id[1]);

        poke(data, size - 1);
        String[] tail = EngineCache.modelIdentity(export);
        assertEquals(id[0], tail[0]);
        assertNotEquals(id[1], tail[1]);
        poke(data, 0);
        assertNotEquals(tail[1], EngineCache.modelIdentity(export)[1]);
        Files.writeString(export.resolve("model.onnx"), "graph v2");
        assertNotEquals(id[0], EngineCache.modelIdentity(export)[0]);
        assertFalse(EngineCache.modelIdentity(export)[0].isEmpty());
    }

    private static void poke(Path f, long at) throws IOException {
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[]{1}), at);
        }
    }
}
