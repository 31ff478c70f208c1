package dev.tina.eval.run;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.IntStream;

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
     * Generates the samples of {@code todo} (each names a prompt of {@code messages} by its run index and some of
     * its {@code n} samples) and hands each to {@code onDone} as it finishes (from any thread, one at a time),
     * none other. An exception thrown by {@code onDone} stops generation and propagates.
     */
    void generate(List<String> messages, List<Pending> todo, int n, Consumer<Generated> onDone) throws Exception;

    /** Samples still to make for the prompt at run index {@code index}, in ascending order. */
    record Pending(int index, int[] samples) {
        public Pending {
            if (index < 0) throw new IllegalArgumentException("run index must be >= 0, got " + index);
            if (samples.length == 0) throw new IllegalArgumentException("problem " + index + ": no samples pending");
            for (int i = 0; i < samples.length; i++) {
                if (samples[i] < 0 || (i > 0 && samples[i] <= samples[i - 1])) {
                    throw new IllegalArgumentException("problem " + index + ": sample indices must be ascending and >= 0");
                }
            }
        }

        /** Samples 0 … n-1 of every index in [from, to). */
        public static List<Pending> all(int from, int to, int n) {
            List<Pending> out = new ArrayList<>(Math.max(0, to - from));
            for (int i = from; i < to; i++) out.add(new Pending(i, IntStream.range(0, n).toArray()));
            return out;
        }

        /** How many samples {@code todo} asks for. */
        public static long rows(List<Pending> todo) {
            long rows = 0;
            for (Pending p : todo) rows += p.samples().length;
            return rows;
        }
    }

    /** Releases what the generator owns (e.g. its adapter binding); never throws. */
    @Override
    default void close() {}
}
