package dev.tina.eval.report;

import dev.tina.eval.run.Variant;
import dev.tina.eval.score.AverageScore;
import dev.tina.eval.score.BenchmarkScore;

import java.util.List;

/** One row of the paper-style table: a variant's scores per benchmark, their average and its timing. */
public record VariantResult(Variant variant, List<BenchmarkScore> scores, AverageScore average, Timing timing) {}
