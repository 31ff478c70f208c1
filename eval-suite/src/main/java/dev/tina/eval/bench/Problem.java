package dev.tina.eval.bench;

/**
 * One benchmark problem, ready to prompt.
 *
 * @param benchmark the benchmark's name (as in {@code --benchmarks})
 * @param index     0-based position in the benchmark file (after blank lines are skipped)
 * @param id        the dataset's own id when it has one, else the index
 * @param message   the user message: the evaluation template filled with the problem
 * @param gold      the gold answer, read the way Tina's evaluation read it
 * @param origin    {@code file:line} of the row, for error messages
 */
public record Problem(String benchmark, int index, String id, String message, String gold, String origin) {
    public Problem {
        if (message == null || message.isBlank()) throw new IllegalArgumentException(origin + ": empty problem text");
        if (gold == null || gold.isBlank()) throw new IllegalArgumentException(origin + ": missing gold answer (empty)");
    }
}
