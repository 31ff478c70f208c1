package dev.tina.runtime.sampling;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Draws one token from a row of logits under {@link SamplingParams}, and gives the token's
 * log-probability under the unscaled distribution. Works in place on one reusable scratch array
 * per instance (one instance per thread).
 *
 * <p>Top-p needs the tokens in probability order, but sorting a 150k vocabulary every step is
 * the slow part of naive samplers. The nucleus is a prefix of that order, and every token outside
 * the candidate set {p ≥ ε·p_max} is less likely than every token inside; so when the candidates
 * already hold the top-p mass, sorting them alone gives the exact nucleus. ε shrinks until they
 * do (and the whole vocabulary is sorted as the last resort).
 */
public final class TokenSampler {
    private float[] weights = new float[0];
    private int[] order = new int[0];
    private long[] keys = new long[0];
    private float lastLogprob;

    /**
     * Samples a token and remembers its unscaled log-probability ({@link #lastLogprob()}); at
     * temperature 1 the normaliser comes from the same pass over the vocabulary as the weights.
     */
    public int sampleWithLogprob(float[] logits, int offset, int vocab, SamplingParams p, SplittableRandom rng) {
        if (p.isGreedy() || p.temperature() != 1.0) {
            int token = sample(logits, offset, vocab, p, rng);
            lastLogprob = fastLogprob(logits, offset, vocab, token);
            return token;
        }
        return sample(logits, offset, vocab, p, rng);
    }

    public float lastLogprob() { return lastLogprob; }

    /** Chosen token id; {@code rng} gives exactly one draw per call when sampling, none when greedy. */
    public int sample(float[] logits, int offset, int vocab, SamplingParams p, SplittableRandom rng) {
        if (p.isGreedy()) return argmax(logits, offset, vocab);
        ensure(vocab);
        double invT = 1.0 / p.temperature();
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i]);
        // weights = exp((l - max) / T), i.e. probabilities up to a common factor, p_max ↦ 1
        float invTf = (float) invT;
        for (int i = 0; i < vocab; i++) weights[i] = FastExp.exp((logits[offset + i] - max) * invTf);
        double all = 0;
        for (int i = 0; i < vocab; i++) all += weights[i];
        double logNormaliser = max + Math.log(all); // the unscaled log-sum-exp when T = 1
        if (p.topK() > 0 && p.topK() < vocab) {
            float kth = kthLargest(weights, vocab, p.topK());
            for (int i = 0; i < vocab; i++) if (weights[i] < kth) weights[i] = 0;
        }
        if (p.topP() < 1) nucleus(vocab, p.topP());
        if (p.minP() > 0) {
            float pmax = 0;
            for (int i = 0; i < vocab; i++) pmax = Math.max(pmax, weights[i]);
            float cut = (float) (p.minP() * pmax);
            for (int i = 0; i < vocab; i++) if (weights[i] < cut) weights[i] = 0;
        }
        double total = 0;
        for (int i = 0; i < vocab; i++) total += weights[i];
        double u = rng.nextDouble() * total;
        int chosen = -1;
        for (int i = 0; i < vocab; i++) {
            if (weights[i] == 0) continue;
            chosen = i; // rounding may leave u ≥ 0 at the end: the last kept token
            u -= weights[i];
            if (u < 0) break;
        }
        lastLogprob = (float) (logits[offset + chosen] - logNormaliser);
        return chosen;
    }

    /** Zeroes every weight outside the smallest most-probable set holding {@code topP} of the mass. */
    private void nucleus(int vocab, double topP) {
        double total = 0;
        for (int i = 0; i < vocab; i++) total += weights[i];
        for (double eps = 1e-3; ; eps *= 1e-3) {
            float cut = eps < 1e-30 ? 0f : (float) eps;
            int n = 0;
            double mass = 0;
            for (int i = 0; i < vocab; i++) {
                if (weights[i] > 0 && weights[i] >= cut) {
                    order[n++] = i;
                    mass += weights[i];
                }
            }
            if (mass < topP * total && cut > 0) continue;
            sortByWeightDesc(n);
            double cum = 0, need = topP * total;
            int keep = 0;
            while (keep < n && cum < need) cum += weights[order[keep++]];
            // zero all, then restore the kept prefix
            float[] keptWeights = new float[keep];
            for (int j = 0; j < keep; j++) keptWeights[j] = weights[order[j]];
            Arrays.fill(weights, 0, vocab, 0f);
            for (int j = 0; j < keep; j++) weights[order[j]] = keptWeights[j];
            return;
        }
    }

    /**
     * Sorts order[0..n) by weight, largest first, ties by token id. Weights are positive floats,
     * whose bit patterns order like their values, so (bits, id) packs into one long and a
     * primitive sort does it without boxing (the whole vocabulary when the distribution is flat).
     */
    private void sortByWeightDesc(int n) {
        if (keys.length < n) keys = new long[n];
        for (int i = 0; i < n; i++) keys[i] = ((long) Float.floatToRawIntBits(weights[order[i]]) << 32) | (0xFFFFFFFFL - order[i]);
        Arrays.sort(keys, 0, n);
        for (int i = 0; i < n; i++) order[i] = (int) (0xFFFFFFFFL - (keys[n - 1 - i] & 0xFFFFFFFFL));
    }

    private float kthLargest(float[] w, int vocab, int k) {
        float[] copy = Arrays.copyOf(w, vocab);
        Arrays.sort(copy);
        return copy[vocab - k];
    }

    private void ensure(int vocab) {
        if (weights.length < vocab) {
            weights = new float[vocab];
            order = new int[vocab];
        }
    }

    public static int argmax(float[] logits, int offset, int vocab) {
        int best = 0;
        float bestV = Float.NEGATIVE_INFINITY;
        for (int k = 0; k < vocab; k++) {
            float v = logits[offset + k];
            if (v > bestV) {
                bestV = v;
                best = k;
            }
        }
        return best;
    }

    /**
     * As {@link #logprob} with {@link FastExp} (relative error < 1e-5 per term): one
     * {@code Math.exp} per vocabulary entry was most of a greedy step's sampling time at 152k.
     */
    static float fastLogprob(float[] logits, int offset, int vocab, int token) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i]);
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += FastExp.exp(logits[offset + i] - max);
        return (float) (logits[offset + token] - max - Math.log(sum));
    }

    /** log softmax(logits)[token] at temperature 1, computed in double. */
    public static float logprob(float[] logits, int offset, int vocab, int token) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i]);
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp(logits[offset + i] - max);
        return (float) (logits[offset + token] - max - Math.log(sum));
    }

    /** The per-request random stream for (seed, prompt, sample): independent of batch composition. */
    public static SplittableRandom streamFor(long seed, int prompt, int sample) {
        long s = seed * 0x9E3779B97F4A7C15L + (prompt + 1L) * 0xC2B2AE3D27D4EB4FL + (sample + 1L) * 0x165667B19E3779F9L;
        return new SplittableRandom(s);
    }
}
