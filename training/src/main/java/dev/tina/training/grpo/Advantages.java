package dev.tina.training.grpo;

/**
 * GRPO's group-relative advantages as Tina's trainer computes them: r − mean(group), divided by
 * (std(group) + 1e-4) when scaling, with torch's default unbiased std (divides by G − 1).
 */
public final class Advantages {
    private Advantages() {}

    public static float[] group(double[] rewards, int groupSize, boolean scale) {
        if (groupSize < 1 || rewards.length % groupSize != 0) {
            throw new IllegalArgumentException(rewards.length + " rewards do not split into groups of " + groupSize);
        }
        float[] out = new float[rewards.length];
        for (int g = 0; g < rewards.length; g += groupSize) {
            double mean = 0;
            for (int i = g; i < g + groupSize; i++) mean += rewards[i];
            mean /= groupSize;
            double var = 0;
            for (int i = g; i < g + groupSize; i++) var += (rewards[i] - mean) * (rewards[i] - mean);
            double std = groupSize > 1 ? Math.sqrt(var / (groupSize - 1)) : 0;
            for (int i = g; i < g + groupSize; i++) out[i] = (float) (scale ? (rewards[i] - mean) / (std + 1e-4) : rewards[i] - mean);
        }
        return out;
    }
}
