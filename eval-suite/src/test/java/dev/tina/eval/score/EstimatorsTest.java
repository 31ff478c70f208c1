package dev.tina.eval.score;

import dev.tina.eval.run.SampleRecord;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The scoring formulas on values worked out by hand. */
class EstimatorsTest {

    /** 1 - C(n-c, k) / C(n, k) with exact binomials, the definition the product form must equal. */
    static double byDefinition(int n, int c, int k) {
        if (n - c < k) return 1;
        return 1 - binom(n - c, k) / binom(n, k);
    }

    static double binom(int n, int k) {
        double r = 1;
        for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
        return r;
    }

    @Test
    void passAtKOnKnownValues() {
        assertEquals(0.3, Estimators.passAtK(10, 3, 1), 1e-12);            // pass@1 = c/n
        assertEquals(0.7, Estimators.passAtK(5, 2, 2), 1e-12);             // 1 - C(3,2)/C(5,2) = 1 - 3/10
        assertEquals(1 - 6188.0 / 15504.0, Estimators.passAtK(20, 3, 5), 1e-12); // 1 - C(17,5)/C(20,5)
        assertEquals(0.0, Estimators.passAtK(16, 0, 8), 0);
        assertEquals(1.0, Estimators.passAtK(4, 4, 1), 0);
        assertEquals(1.0, Estimators.passAtK(10, 5, 8), 0);                // n - c < k: every draw of 8 holds a correct one
        assertEquals(0.5, Estimators.passAtK(2, 1, 1), 1e-12);
        assertEquals(1.0, Estimators.passAtK(2, 1, 2), 0);
        for (int n = 1; n <= 40; n += 3) {
            for (int c = 0; c <= n; c++) {
                for (int k = 1; k <= n; k++) assertEquals(byDefinition(n, c, k), Estimators.passAtK(n, c, k), 1e-9, n + " " + c + " " + k);
            }
        }
        // large n, where the binomials overflow a double but the product form does not
        assertEquals(1 - Math.pow(0.999, 10), Estimators.passAtK(100_000, 100, 10), 1e-4);
    }

    @Test
    void passAtKRejectsImpossibleCounts() {
        assertThrows(IllegalArgumentException.class, () -> Estimators.passAtK(4, 5, 1));
        assertThrows(IllegalArgumentException.class, () -> Estimators.passAtK(4, 1, 5));
        assertThrows(IllegalArgumentException.class, () -> Estimators.passAtK(4, 1, 0));
    }

    static Estimators.Vote v(String key, boolean ok) { return new Estimators.Vote(key, ok); }

    @Test
    void majorityVote() {
        assertTrue(Estimators.majorityCorrect(List.of(v("1/2", true), v("3", false), v("1/2", true))));
        assertFalse(Estimators.majorityCorrect(List.of(v("3", false), v("1/2", true), v("3", false))));
        // samples without an answer do not vote: one correct answer beats three silences
        assertTrue(Estimators.majorityCorrect(List.of(v(null, false), v(null, false), v("7", true), v(null, false))));
        // a tie goes to the answer given first
        assertFalse(Estimators.majorityCorrect(List.of(v("3", false), v("1/2", true))));
        assertTrue(Estimators.majorityCorrect(List.of(v("1/2", true), v("3", false))));
        assertFalse(Estimators.majorityCorrect(List.of(v(null, false), v(null, false))));
        assertFalse(Estimators.majorityCorrect(List.of()));
    }

    @Test
    void reportedKs() {
        assertEquals(List.of(1), Estimators.reportedKs(1));
        assertEquals(List.of(1, 2, 4, 8, 10), Estimators.reportedKs(10));
        assertEquals(List.of(1, 2, 4, 8, 16), Estimators.reportedKs(16));
    }

    static SampleRecord rec(int problem, int sample, String key, boolean ok) {
        return new SampleRecord("b", problem, Integer.toString(problem), sample, "p", "c", "1", key, key,
                key == null ? "no_answer" : ok ? "correct" : "wrong", ok, 5, sample == 0 ? "length" : "stop", null);
    }

    @Test
    void benchmarkScoresFromSamples() {
        // problem 0: 3 of 4 correct; problem 1: 1 of 4 (majority wrong); problem 2: none, no answers at all
        List<SampleRecord> rs = new ArrayList<>();
        rs.add(rec(0, 0, "1", true)); rs.add(rec(0, 1, "1", true)); rs.add(rec(0, 2, "2", false)); rs.add(rec(0, 3, "1", true));
        rs.add(rec(1, 0, "5", false)); rs.add(rec(1, 1, "1", true)); rs.add(rec(1, 2, "5", false)); rs.add(rec(1, 3, "6", false));
        for (int s = 0; s < 4; s++) rs.add(rec(2, s, null, false));
        BenchmarkScore b = Scorer.benchmark("b", "B", 3, 4, rs);
        assertEquals((0.75 + 0.25 + 0) / 3, b.pass1(), 1e-12);
        assertEquals(b.pass1(), b.passAtK().get(1), 1e-12);
        assertEquals((Estimators.passAtK(4, 3, 2) + Estimators.passAtK(4, 1, 2)) / 3, b.passAtK().get(2), 1e-12);
        assertEquals((1.0 + 1.0) / 3, b.passAtK().get(4), 1e-12);
        assertEquals(1.0 / 3, b.majAtK().get(1), 1e-12);  // first samples: correct, wrong, none
        assertEquals(1.0 / 3, b.majAtK().get(2), 1e-12);  // p0 {1,1}; p1 tie 5 vs 1, 5 first
        assertEquals(1.0 / 3, b.majAtK().get(4), 1e-12);  // p0 "1" ×3; p1 "5" ×2
        assertEquals(4, b.noAnswer());
        assertEquals(3, b.truncated());
        assertEquals(4, b.correct());
        assertEquals(12, b.samples());
        assertTrue(b.ci95()[0] <= b.pass1() && b.pass1() <= b.ci95()[1], () -> b.ci95()[0] + " " + b.ci95()[1]);

        // a missing sample is not silently scored
        rs.removeLast();
        assertThrows(IllegalStateException.class, () -> Scorer.benchmark("b", "B", 3, 4, rs));
    }

    @Test
    void bootstrapIntervals() {
        double[] allWrong = new double[30], half = new double[40];
        for (int i = 0; i < half.length; i++) half[i] = i % 2;
        assertArrayEquals(new double[]{0, 0}, Bootstrap.ci95(List.of(allWrong)));
        double[] ci = Bootstrap.ci95(List.of(half));
        // binomial sd at p = 0.5, n = 40 is 0.079: the 95% interval is about ±0.155
        assertTrue(ci[0] > 0.30 && ci[0] < 0.38 && ci[1] > 0.62 && ci[1] < 0.70, ci[0] + " " + ci[1]);
        assertArrayEquals(ci, Bootstrap.ci95(List.of(half)), "fixed seed: the same data give the same interval");
        // the average of two benchmarks: the mean of their means, interval around it
        double[] avg = Bootstrap.ci95(List.of(allWrong, half));
        assertTrue(avg[0] < 0.25 && avg[1] > 0.25 && avg[1] - avg[0] < ci[1] - ci[0], avg[0] + " " + avg[1]);
    }
}
