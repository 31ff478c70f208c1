package dev.tina.eval.run;

import java.util.List;
import java.util.function.Consumer;

/**
 * Produces completions for the run's prompts. The contract resume relies on: sample {@code s} of prompt
 * {@code i} is a function of (settings, seed, i, s) only, whatever range a call covers, so regenerating a
 * missing sample gives the one an uninterrupted run would have written.
 */
public interface Generator extends AutoCloseable {

    /** The exact text the model sees for a user message (recorded in every sample line). */
    String render(String message);

    /** Prompt length in tokens, to check that prompt + max_new_tokens fits the context. */
    int promptTokens(String message);

    /** Positions the model can attend over. */
    int contextLength();

    /**
     * Generates {@code n} samples for each of {@code messages[from, to)} and hands each to {@code onDone} as it
     * finishes (from any thread, one at a time). An exception thrown by {@code onDone} stops generation and
     * propagates.
     */
    void generate(List<String> messages, int from, int to, int n, Consumer<Generated> onDone) throws Exception;

    /** Releases what the generator owns (e.g. its adapter binding); never throws. */
    @Override
    default void close() {}
}
