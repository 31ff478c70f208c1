package dev.tina.eval.score;

import dev.tina.eval.run.SampleRecord;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Turns graded samples into scores. */
public final class Scorer {
    private Scorer() {}

    /**
     * @param records every sample of this benchmark: problems 0 … problems-1, samples 0 … n-1 each, exactly once
     */
    public static BenchmarkScore benchmark(String name, String label, int problems, int n, List<SampleRecord> records) {
        if (problems < 1) throw new IllegalArgumentException(name + ": no problems to score");
        SampleRecord[][] grid = new SampleRecord[problems][n];
        for (SampleRecord r : records) {
            if (!r.benchmark().equals(name)) continue;
            if (r.problemIndex() >= problems || r.sample() >= n) throw new IllegalArgumentException(name + ": sample " + r.key() + " outside " + problems + " × " + n);
            if (grid[r.problemIndex()][r.sample()] == null) grid[r.problemIndex()][r.sample()] = r;
        }
        List<Integer> ks = Estimators.reportedKs(n);
        Map<Integer, Double> passAtK = new LinkedHashMap<>(), majAtK = new LinkedHashMap<>();
        for (int k : ks) {
            passAtK.put(k, 0.0);
            majAtK.put(k, 0.0);
        }
        double[] perProblem = new double[problems];
        int correct = 0, noAnswer = 0, truncated = 0, timeouts = 0;
        long tokens = 0;
        for (int p = 0; p < problems; p++) {
            int c = 0;
            List<Estimators.Vote> votes = new ArrayList<>(n);
            for (int s = 0; s < n; s++) {
                SampleRecord r = grid[p][s];
                if (r == null) throw new IllegalStateException(name + ": problem " + p + " misses sample " + s + "; the run is not complete");
                if (r.correct()) c++;
                if (r.verdict().equals("no_answer")) noAnswer++;
                if (r.verdict().equals("timeout")) timeouts++;
                if (r.finish().equals("length")) truncated++;
                tokens += r.tokens();
                votes.add(new Estimators.Vote(r.answerKey(), r.correct()));
            }
            correct += c;
            perProblem[p] = (double) c / n;
            for (int k : ks) {
                passAtK.merge(k, Estimators.passAtK(n, c, k) / problems, Double::sum);
                majAtK.merge(k, (Estimators.majorityCorrect(votes.subList(0, k)) ? 1.0 : 0.0) / problems, Double::sum);
            }
        }
        double pass1 = 0;
        for (double x : perProblem) pass1 += x;
        pass1 /= problems;
        return new BenchmarkScore(name, label, problems, n, correct, pass1, Bootstrap.ci95(List.of(perProblem)), passAtK, majAtK,
                noAnswer, truncated, timeouts, (double) tokens / (problems * n), perProblem);
    }

    /** The paper's "avg": each benchmark counts once, whatever its size. */
    public static AverageScore average(List<BenchmarkScore> scores) {
        if (scores.isEmpty()) throw new IllegalArgumentException("nothing to average");
        List<double[]> groups = new ArrayList<>();
        double pass1 = 0;
        int problems = 0, samples = 0;
        Map<Integer, Double> passAtK = new LinkedHashMap<>(), majAtK = new LinkedHashMap<>();
        for (BenchmarkScore s : scores) {
            groups.add(s.perProblem());
            pass1 += s.pass1() / scores.size();
            problems += s.problems();
            samples += s.samples();
            s.passAtK().forEach((k, v) -> passAtK.merge(k, v / scores.size(), Double::sum));
            s.majAtK().forEach((k, v) -> majAtK.merge(k, v / scores.size(), Double::sum));
        }
        Map<Integer, Double> sortedPass = new LinkedHashMap<>(), sortedMaj = new LinkedHashMap<>();
        passAtK.keySet().stream().sorted(Comparator.naturalOrder()).forEach(k -> {
            sortedPass.put(k, passAtK.get(k));
            sortedMaj.put(k, majAtK.get(k));
        });
        return new AverageScore(scores.size(), problems, samples, pass1, Bootstrap.ci95(groups), sortedPass, sortedMaj);
    }
}
