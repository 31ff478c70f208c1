package dev.tina.eval.score;

import java.util.Map;

/**
 * The scores of one variant on one benchmark (fractions in [0, 1]).
 *
 * @param pass1      mean over problems of the fraction of their samples graded correct (= pass@1)
 * @param ci95       95% interval of {@code pass1}, see {@link Bootstrap}
 * @param passAtK    unbiased pass@k by k ({@link Estimators#passAtK}), averaged over problems
 * @param majAtK     maj@k by k: the majority answer of the first k samples is correct, averaged over problems
 * @param noAnswer   samples in which the grader found no answer (scored wrong)
 * @param truncated  samples cut by max_new_tokens
 * @param timeouts   samples whose grade ran past the deadline (scored wrong)
 * @param perProblem per problem, the fraction of samples correct (what the interval resamples)
 */
public record BenchmarkScore(String name, String label, int problems, int samplesPerProblem, int correct, double pass1, double[] ci95,
                             Map<Integer, Double> passAtK, Map<Integer, Double> majAtK, int noAnswer, int truncated, int timeouts,
                             double meanTokens, double[] perProblem) {

    public int samples() { return problems * samplesPerProblem; }
}
