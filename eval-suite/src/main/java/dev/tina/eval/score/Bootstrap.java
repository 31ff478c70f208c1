package dev.tina.eval.score;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * 95% percentile-bootstrap intervals over problems. Problems are resampled with replacement inside each
 * benchmark (stratified), the statistic is the mean over benchmarks of the per-benchmark means, so one call
 * serves a single benchmark and the unweighted average across benchmarks alike. The seed is fixed so a report
 * is a pure function of its samples.
 */
public final class Bootstrap {
    public static final int RESAMPLES = 2000;
    public static final long SEED = 20250421L;
    public static final String METHOD = "95% percentile bootstrap over problems (" + RESAMPLES + " resamples, stratified by benchmark, fixed seed "
            + SEED + ")";

    private Bootstrap() {}

    /** @param groups per benchmark, the per-problem scores (e.g. the fraction of its samples correct) */
    public static double[] ci95(List<double[]> groups) {
        for (double[] g : groups) if (g.length == 0) throw new IllegalArgumentException("a benchmark without problems has no interval");
        SplittableRandom rng = new SplittableRandom(SEED);
        double[] stats = new double[RESAMPLES];
        for (int b = 0; b < RESAMPLES; b++) {
            double sum = 0;
            for (double[] g : groups) {
                double s = 0;
                for (int i = 0; i < g.length; i++) s += g[rng.nextInt(g.length)];
                sum += s / g.length;
            }
            stats[b] = sum / groups.size();
        }
        Arrays.sort(stats);
        return new double[]{stats[(int) Math.floor(0.025 * RESAMPLES)], stats[(int) Math.ceil(0.975 * RESAMPLES) - 1]};
    }
}
