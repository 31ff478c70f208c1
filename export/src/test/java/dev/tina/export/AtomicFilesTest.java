package dev.tina.export;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AtomicFilesTest {
    static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aFailedWriteKeepsTheOldFileAndLeavesNoTemporary(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("report.md");
        AtomicFiles.writeString(f, "old");
        assertThrows(IOException.class, () -> AtomicFiles.write(f, tmp -> {
            Files.writeString(tmp, "half");
            throw new IOException("disk full");
        }));
        assertEquals("old", Files.readString(f));
        assertEquals(List.of("report.md"), names(dir), "no temporary left");
        AtomicFiles.writeString(f, "new");
        assertEquals("new", Files.readString(f));
    }

    @Test
    void concurrentWritersOfOneFileLeaveOneWholeVersion(@TempDir Path dir) throws Exception {
        // two executors building the same training graph in one cache: with a shared temporary name
        // one writer's rename could publish the other's half-written bytes
        Path f = dir.resolve("graph.onnx");
        int writers = 8, size = 1 << 18;
        ExecutorService pool = Executors.newFixedThreadPool(writers);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int w = 0; w < writers; w++) {
                byte fill = (byte) ('a' + w);
                done.add(pool.submit(() -> {
                    for (int k = 0; k < 20; k++) {
                        AtomicFiles.write(f, tmp -> {
                            byte[] b = new byte[size];
                            java.util.Arrays.fill(b, fill);
                            Files.write(tmp, b);
                        });
                    }
                    return null;
                }));
            }
            for (Future<?> d : done) d.get();
        } finally {
            pool.shutdown();
        }
        byte[] b = Files.readAllBytes(f);
        assertEquals(size, b.length);
        for (byte x : b) assertEquals(b[0], x, "one writer's bytes, whole");
        assertTrue(names(dir).equals(List.of("graph.onnx")), "no temporaries left: " + names(dir));
    }
}
