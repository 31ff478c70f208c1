package dev.tina.eval.score;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The per-problem estimators: unbiased pass@k and majority vote. */
public final class Estimators {
    private Estimators() {}

    /**
     * Chen et al. (2021): the probability that at least one of k samples drawn without replacement from n
     * (c of them correct) is correct, {@code 1 - C(n-c, k) / C(n, k)}, computed as the product
     * {@code 1 - Π_{i=n-c+1..n} (1 - k/i)} so that large n does not overflow.
     */
    public static double passAtK(int n, int c, int k) {
        if (n < 1 || c < 0 || c > n) throw new IllegalArgumentException("need 0 <= c <= n and n >= 1, got n=" + n + ", c=" + c);
        if (k < 1 || k > n) throw new IllegalArgumentException("need 1 <= k <= n, got k=" + k + ", n=" + n);
        if (n - c < k) return 1.0;
        double miss = 1.0;
        for (int i = n - c + 1; i <= n; i++) miss *= 1.0 - (double) k / i;
        return 1.0 - miss;
    }

    /** One sample's vote: its answer key (null when it gave no answer) and whether it was graded correct. */
    public record Vote(String key, boolean correct) {}

    /**
     * Whether the most frequent answer among {@code votes} is correct. Samples without an answer do not vote;
     * ties go to the answer given first; no answer at all scores 0. All samples with one key share its verdict
     * (the key is the grader's canonical form), so the first one's verdict is taken.
     */
    public static boolean majorityCorrect(List<Vote> votes) {
        Map<String, int[]> counts = new LinkedHashMap<>(); // first occurrence order breaks ties
        Map<String, Boolean> verdict = new LinkedHashMap<>();
        for (Vote v : votes) {
            if (v.key() == null) continue;
            counts.computeIfAbsent(v.key(), x -> new int[1])[0]++;
            verdict.putIfAbsent(v.key(), v.correct());
        }
        String best = null;
        int bestCount = 0;
        for (var e : counts.entrySet()) {
            if (e.getValue()[0] > bestCount) {
                best = e.getKey();
                bestCount = e.getValue()[0];
            }
        }
        return best != null && verdict.get(best);
    }

    /** The k reported for pass@k and maj@k given n samples per problem: 1, 2, 4, … up to n, and n itself. */
    public static List<Integer> reportedKs(int n) {
        java.util.TreeSet<Integer> ks = new java.util.TreeSet<>();
        for (int k = 1; k <= n; k *= 2) ks.add(k);
        ks.add(n);
        return List.copyOf(ks);
    }
}
