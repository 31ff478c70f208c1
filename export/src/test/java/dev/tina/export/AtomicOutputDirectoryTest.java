package dev.tina.export;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Output folders appear whole or not at all; a failed replacement keeps the previous one. */
class AtomicOutputDirectoryTest {
    @Test
    void aWriteThatFailsMidwayLeavesThePreviousFolderIntactAndNoDebris(@TempDir Path tmp) throws IOException {
        Path target = tmp.resolve("checkpoint-4");
        try (AtomicOutputDirectory out = new AtomicOutputDirectory(target, true)) {
            Files.writeString(out.path().resolve("state.json"), "{\"step\": 4}");
            out.commit();
        }
        // the next save of the same folder fails as a full disk would, after writing part of it
        IOException e = assertThrows(IOException.class, () -> {
            try (AtomicOutputDirectory out = new AtomicOutputDirectory(target, true)) {
                Files.writeString(out.path().resolve("state.json"), "{\"step\": 4, \"partial\": ");
                throw new IOException("No space left on device");
            }
        });
        assertEquals("No space left on device", e.getMessage());
        assertEquals("{\"step\": 4}", Files.readString(target.resolve("state.json")), "previous content intact");
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(1, s.count(), "no temporary folder left beside it");
        }
    }

    @Test
    void replacingCommitsTheNewContentWhole(@TempDir Path tmp) throws IOException {
        Path target = tmp.resolve("out");
        for (int v = 1; v <= 2; v++) {
            try (AtomicOutputDirectory out = new AtomicOutputDirectory(target, true)) {
                Files.writeString(out.path().resolve("v"), Integer.toString(v));
                assertTrue(v == 1 || Files.readString(target.resolve("v")).equals("1"), "old content visible until commit");
                out.commit();
            }
        }
        assertEquals("2", Files.readString(target.resolve("v")));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(1, s.count());
        }
    }
}
