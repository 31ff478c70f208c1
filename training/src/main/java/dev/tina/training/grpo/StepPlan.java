package dev.tina.training.grpo;

import java.io.Serial;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * The work of one GRPO step before any of it runs: its prompts (token ids, in dataset-cursor
 * order), their gold answers, and the adapter version every rollout must use. It splits into
 * {@link Slice}s along whole units of {@code lcm(micro-batch, generations)} completions, so every
 * group's advantages and every micro-batch stay inside one slice and a slice's results are the
 * ones the whole step computed in one piece would give for those prompts.
 */
public record StepPlan(long step, String adapterVersion, List<long[]> prompts, List<String> answers, int generations, int microBatch,
                       int rolloutSlices) {
    public StepPlan {
        prompts = List.copyOf(prompts);
        answers = List.copyOf(answers);
        if (prompts.size() != answers.size()) throw new IllegalArgumentException(prompts.size() + " prompts but " + answers.size() + " answers");
        if (generations < 1 || microBatch < 1) throw new IllegalArgumentException("generations and micro-batch size must be >= 1");
        if (rolloutSlices < 1) throw new IllegalArgumentException("rollout slices must be >= 1, got " + rolloutSlices);
        if ((long) prompts.size() * generations % unitCompletions(generations, microBatch) != 0) {
            throw new IllegalArgumentException(prompts.size() + " prompts × " + generations + " generations do not split into units of lcm(micro-batch "
                    + microBatch + ", generations " + generations + ")");
        }
    }

    /** A contiguous run of the step's prompts: its first prompt's and first micro-batch's index in the step. */
    public record Slice(long step, String adapterVersion, int firstPrompt, int firstMicroBatch, List<long[]> prompts, List<String> answers)
            implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;

        public Slice {
            // ArrayList, not a view: a slice travels to other processes
            prompts = new ArrayList<>(prompts);
            answers = new ArrayList<>(answers);
            if (prompts.isEmpty() || prompts.size() != answers.size()) throw new IllegalArgumentException("a slice needs prompts, one answer each");
        }
    }

    static int unitCompletions(int generations, int microBatch) {
        int a = generations, b = microBatch;
        while (b != 0) { int t = a % b; a = b; b = t; }
        return generations / a * microBatch;
    }

    /** How many slices the step can be cut into at most. */
    public int units() { return prompts.size() * generations / unitCompletions(generations, microBatch); }

    /** The whole step as one slice. */
    public Slice whole() { return slices(1).getFirst(); }

    /**
     * The step cut into {@code rolloutSlices} slices (at most {@link #units}). How a step is cut is
     * part of what it computes: each slice samples its prompts in its own waves, and the sampler's
     * log-probabilities (not its tokens) depend in the last bits on which rows share a wave. So a
     * step run here and one spread over a cluster agree bit for bit when they are cut alike.
     */
    public List<Slice> slices() { return slices(rolloutSlices); }

    /** At most {@code n} slices of nearly equal size, in prompt order. */
    public List<Slice> slices(int n) {
        if (n < 1) throw new IllegalArgumentException("slices: n must be >= 1");
        int units = units(), k = Math.min(n, units), promptsPerUnit = unitCompletions(generations, microBatch) / generations;
        List<Slice> out = new ArrayList<>(k);
        for (int i = 0; i < k; i++) {
            int from = (int) ((long) i * units / k) * promptsPerUnit, to = (int) ((long) (i + 1) * units / k) * promptsPerUnit;
            out.add(new Slice(step, adapterVersion, from, from * generations / microBatch, prompts.subList(from, to), answers.subList(from, to)));
        }
        return out;
    }
}
