package dev.tina.eval.score;

import java.util.Map;

/** The unweighted mean over benchmarks, as the paper's "avg" column; the interval resamples each benchmark's problems. */
public record AverageScore(int benchmarks, int problems, int samples, double pass1, double[] ci95, Map<Integer, Double> passAtK,
                           Map<Integer, Double> majAtK) {}
