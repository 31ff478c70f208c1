package dev.tina.training.grpo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The checkpoints of a {@code tina train} run folder: {@code checkpoint-N/} with {@code adapter/}
 * (PEFT), {@code optimizer/} and {@code trainer_state.json}, each written under a temporary name
 * and renamed, so a folder with its {@code trainer_state.json} is complete. The one place that
 * names and finds them (the trainer resumes from the last; {@code tina eval --checkpoints} reads all).
 */
public final class Checkpoints {
    private static final String PREFIX = "checkpoint-";

    private Checkpoints() {}

    /** The folder of the checkpoint after {@code step} steps. */
    public static Path dir(Path run, long step) { return run.resolve(PREFIX + step); }

    /** The run's complete checkpoints in step order; none when the folder does not exist. */
    public static List<Path> list(Path run) throws IOException {
        if (!Files.isDirectory(run)) return List.of();
        try (Stream<Path> s = Files.list(run)) {
            return s.filter(p -> p.getFileName().toString().matches(PREFIX + "\\d+") && Files.isRegularFile(p.resolve("trainer_state.json")))
                    .sorted(Comparator.comparingLong(Checkpoints::step)).toList();
        }
    }

    public static Optional<Path> latest(Path run) throws IOException {
        List<Path> all = list(run);
        return all.isEmpty() ? Optional.empty() : Optional.of(all.getLast());
    }

    /** The step a checkpoint folder was written after. */
    public static long step(Path checkpoint) { return Long.parseLong(checkpoint.getFileName().toString().substring(PREFIX.length())); }
}
