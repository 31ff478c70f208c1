package dev.tina.training.grpo;

import dev.tina.training.optim.GradientSum;
import dev.tina.training.ort.GradientEngine;

import java.io.Serial;
import java.io.Serializable;
import java.util.List;
import java.util.Map;

/**
 * What a {@link StepPlan.Slice} produced: per completion (prompt-major, then sample) each reward
 * and the weighted total, and the completion's length; per micro-batch the gradient pass's result.
 * Small and serialisable: it is what a Spark task sends back to the driver.
 *
 * @param perReward   [reward][completion] scores, in the recipe's reward order
 * @param seconds     wall-clock seconds of the slice's phases (handover, sampling, rewards, reference, training)
 */
public record SliceResult(int firstPrompt, double[][] perReward, double[] total, int[] completionTokens, List<Micro> micro,
                          Seconds seconds) implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    /** One micro-batch's gradient pass; {@code samplerLogps} are the rollout's own log-probs of the same tokens. */
    public record Micro(int index, double loss, float[] logps, float[] kl, float[] samplerLogps, Map<String, float[]> gradients)
            implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;

        public GradientSum.Part part() { return new GradientSum.Part(index, new GradientEngine.Result(loss, logps, kl, gradients)); }
    }

    public record Seconds(double handover, double sampling, double rewards, double reference, double training) implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;

        public Seconds plus(Seconds o) {
            return new Seconds(handover + o.handover, sampling + o.sampling, rewards + o.rewards, reference + o.reference, training + o.training);
        }

        public double total() { return handover + sampling + rewards + reference + training; }
    }

    public int completions() { return total.length; }
}
