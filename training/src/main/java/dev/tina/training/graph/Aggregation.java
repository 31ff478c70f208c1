package dev.tina.training.graph;

import java.util.Locale;

/**
 * How per-token losses combine into the batch loss, as TRL's {@code loss_type} defines them; in
 * the graph each is just the per-token weights {@code token_weights} (Σ wₖ ℓₖ).
 */
public sealed interface Aggregation {
    /**
     * The weight of each completion token.
     *
     * @param rowOfToken   the batch row of each of the K tokens
     * @param rows         rows in the (micro-)batch
     * @param maxCompletionLength the configured max completion length (Dr. GRPO's constant)
     */
    float[] weights(int[] rowOfToken, int rows, int maxCompletionLength);

    /** "grpo": the mean over each sequence's tokens, then the mean over sequences. */
    record Grpo() implements Aggregation {
        public float[] weights(int[] rowOfToken, int rows, int maxCompletionLength) {
            int[] count = new int[rows];
            for (int r : rowOfToken) count[r]++;
            float[] w = new float[rowOfToken.length];
            for (int k = 0; k < w.length; k++) w[k] = 1f / (rows * count[rowOfToken[k]]);
            return w;
        }
    }

    /** "bnpo": the mean over all completion tokens of the batch. */
    record Bnpo() implements Aggregation {
        public float[] weights(int[] rowOfToken, int rows, int maxCompletionLength) {
            float[] w = new float[rowOfToken.length];
            java.util.Arrays.fill(w, 1f / Math.max(1, rowOfToken.length));
            return w;
        }
    }

    /** "dr_grpo": the sum over tokens divided by rows × max completion length (no length bias). */
    record DrGrpo() implements Aggregation {
        public float[] weights(int[] rowOfToken, int rows, int maxCompletionLength) {
            if (maxCompletionLength < 1) throw new IllegalArgumentException("dr_grpo needs max_completion_length >= 1");
            float[] w = new float[rowOfToken.length];
            java.util.Arrays.fill(w, 1f / ((float) rows * maxCompletionLength));
            return w;
        }
    }

    static Aggregation parse(String lossType) {
        return switch (lossType.toLowerCase(Locale.ROOT)) {
            case "grpo" -> new Grpo();
            case "bnpo" -> new Bnpo();
            case "dr_grpo" -> new DrGrpo();
            default -> throw new IllegalArgumentException("unknown loss_type '" + lossType + "', expected one of grpo, bnpo, dr_grpo");
        };
    }
}
