package dev.tina.training.grpo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointsTest {
    @Test
    void completeCheckpointsInNumericStepOrder(@TempDir Path run) throws Exception {
        for (long step : new long[]{100, 20, 3}) {
            Path d = Checkpoints.dir(run, step);
            Files.createDirectories(d.resolve("adapter"));
            Files.writeString(d.resolve("trainer_state.json"), "{\"step\": " + step + "}");
        }
        Files.createDirectories(run.resolve("checkpoint-7/adapter")); // no trainer_state.json: not complete
        Files.createDirectories(run.resolve("checkpoint-x"));
        Files.createDirectories(run.resolve(".checkpoint-200.tmp"));
        List<Path> all = Checkpoints.list(run);
        assertEquals(List.of(3L, 20L, 100L), all.stream().map(Checkpoints::step).toList()); // 100 after 20: numbers, not strings
        assertEquals(Checkpoints.dir(run, 100), Checkpoints.latest(run).orElseThrow());
        assertTrue(Checkpoints.list(run.resolve("missing")).isEmpty());
    }
}
