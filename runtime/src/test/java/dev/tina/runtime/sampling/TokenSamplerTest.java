package dev.tina.runtime.sampling;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenSamplerTest {
    static SamplingParams params(double t, double topP, int topK, double minP) {
        return new SamplingParams(1, t, topP, topK, minP, 1, List.of(), Set.of(), 0);
    }

    @Test
    void drawsFollowTheTemperedDistribution() {
        float[] logits = {2f, 1f, 0f, -1f, 0.5f};
        double t = 0.7;
        double[] p = new double[logits.length];
        double z = 0;
        for (int i = 0; i < p.length; i++) z += p[i] = Math.exp(logits[i] / t);
        int draws = 200_000;
        int[] counts = new int[logits.length];
        TokenSampler s = new TokenSampler();
        SplittableRandom rng = new SplittableRandom(1);
        for (int k = 0; k < draws; k++) counts[s.sample(logits, 0, logits.length, params(t, 1, 0, 0), rng)]++;
        for (int i = 0; i < p.length; i++) {
            double expected = p[i] / z, sd = Math.sqrt(expected * (1 - expected) / draws);
            assertEquals(expected, counts[i] / (double) draws, 5 * sd, "token " + i);
        }
    }

    @Test
    void nucleusEqualsTheBruteForceDefinition() {
        SplittableRandom gen = new SplittableRandom(3);
        TokenSampler s = new TokenSampler();
        for (int trial = 0; trial < 50; trial++) {
            int vocab = 2000;
            float[] logits = new float[vocab];
            for (int i = 0; i < vocab; i++) logits[i] = (float) (gen.nextGaussian() * (1 + trial % 5));
            double topP = 0.5 + 0.45 * gen.nextDouble();
            // brute force: sort all by probability, keep the smallest prefix with mass >= topP
            Integer[] idx = new Integer[vocab];
            for (int i = 0; i < vocab; i++) idx[i] = i;
            Arrays.sort(idx, (a, b) -> Float.compare(logits[b], logits[a]));
            double z = 0;
            for (float l : logits) z += Math.exp(l - logits[idx[0]]);
            double cum = 0;
            boolean[] allowed = new boolean[vocab];
            for (int k = 0; k < vocab && cum < topP; k++) {
                allowed[idx[k]] = true;
                cum += Math.exp(logits[idx[k]] - logits[idx[0]]) / z;
            }
            SplittableRandom rng = new SplittableRandom(trial);
            for (int k = 0; k < 200; k++) {
                int tok = s.sample(logits, 0, vocab, params(1.0, topP, 0, 0), rng);
                assertTrue(allowed[tok], "token outside the nucleus, trial " + trial);
            }
        }
    }

    @Test
    void topKOneAndTinyTopPAreGreedyAndMinPPrunes() {
        float[] logits = {0.1f, 3f, 2.9f, -4f};
        TokenSampler s = new TokenSampler();
        SplittableRandom rng = new SplittableRandom(5);
        for (int k = 0; k < 100; k++) {
            assertEquals(1, s.sample(logits, 0, 4, params(1.5, 1, 1, 0), rng));
            assertEquals(1, s.sample(logits, 0, 4, params(1.5, 1e-6, 0, 0), rng));
            int t = s.sample(logits, 0, 4, params(1.0, 1, 0, 0.5), rng);
            assertTrue(t == 1 || t == 2, "min_p 0.5 keeps only tokens within half of the top probability");
        }
        assertEquals(1, s.sample(logits, 0, 4, params(0, 1, 0, 0), rng)); // temperature 0 is greedy
    }

    @Test
    void logprobIsNormalised() {
        float[] logits = {1f, 2f, 3f};
        double sum = 0;
        for (int i = 0; i < 3; i++) sum += Math.exp(TokenSampler.logprob(logits, 0, 3, i));
        assertEquals(1.0, sum, 1e-6);
    }
}
