package dev.tina.training.grpo;

import java.util.List;
import java.util.Map;

/**
 * Where a GRPO step's rollouts, rewards, reference log-probs and gradient passes run: in this
 * process ({@link #inProcess}) or spread over other processes (the tina-spark module). The driver
 * keeps the data cursor, the reduction ({@link dev.tina.training.optim.GradientSum}), AdamW,
 * checkpoints and metrics, so every runner gives the same step from the same plan.
 */
public interface StepRunner extends AutoCloseable {

    /** A step's slice results in prompt order, with the runner's own costs (wall-clock seconds, bytes). */
    record Results(List<SliceResult> slices, Map<String, Number> overhead) {
        public Results {
            slices = List.copyOf(slices);
            overhead = Map.copyOf(overhead);
        }
    }

    /**
     * Runs the plan with {@code weights}, the adapter whose version the plan names. Implementations
     * must not modify {@code weights}.
     */
    Results run(StepPlan plan, Map<String, float[]> weights) throws Exception;

    @Override
    default void close() throws Exception {}

    /** Opens the runner of a training run, given the in-process worker over the driver's own sessions. */
    @FunctionalInterface
    interface Factory {
        StepRunner open(GrpoRecipe recipe, StepWorker local) throws Exception;

        /**
         * Whether the runner computes on the driver's own worker. When not (a cluster), the driver
         * opens no sampler, gradient or reference session: its worker only names the rewards.
         */
        default boolean runsHere() { return true; }
    }

    /** The plan's slices one after another on the driver's sessions (no copies, no serialisation). */
    static StepRunner inProcess(StepWorker worker) {
        return (plan, weights) -> {
            List<SliceResult> out = new java.util.ArrayList<>();
            for (StepPlan.Slice s : plan.slices()) out.add(worker.run(s, weights));
            return new Results(out, Map.of());
        };
    }
}
