package dev.tina.runtime.sampling;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Draws one token from a row of logits under {@link SamplingParams}, and gives the token's
 * log-probability under the unscaled distribution. Works in place on reusable scratch arrays
 * (one instance per thread); no array is allocated per token.
 *
 * <p>With the Vector API ({@code --add-modules jdk.incubator.vector}) a sampled token costs a few
 * passes over the row: the max; the weights exp((l − max)/T) summed per block of {@link #BLOCK}
 * entries, not stored; at T ≠ 1 the temperature-1 normaliser for the log-probability in a
 * second read of the row; and the draw, which skips whole blocks by their sums and recomputes
 * only the chosen block's weights. Greedy is the max, its first index, and the normaliser. The weights are bit-identical to the
 * scalar passes ({@link Passes#SCALAR}, used when the module is absent), and so is the uniform
 * draw inverted through them; only the sums' rounding differs (double lanes instead of one double
 * chain), which moves a cumulative boundary by ~1e-16 of the total.
 *
 * <p>Below temperature 1 with no truncation (RL rollouts), the draw needs no second pass: the
 * temperature-1 weights e_i = exp(l_i − max), whose sum the log-probability needs anyway, propose
 * a token i, accepted with probability e_i^(1/T − 1) ≤ 1 (rejection sampling: an accepted token is
 * distributed exactly as softmax(l/T), whatever the proposal). The expected number of proposals
 * is Σe_i / Σe_i^(1/T), a few for peaked rows; each recomputes one block. After
 * {@value #MAX_PROPOSALS} rejections the tempered pass draws instead, from fresh uniforms, so the
 * mixture is still exact.
 *
 * <p>Top-p needs the tokens in probability order, but sorting a 150k vocabulary every step is
 * the slow part of naive samplers. The nucleus is a prefix of that order, and every token outside
 * the candidate set {p ≥ ε·p_max} is less likely than every token inside; so when the candidates
 * already hold the top-p mass, sorting them alone gives the exact nucleus. ε shrinks until they
 * do (and the whole vocabulary is sorted as the last resort).
 */
public final class TokenSampler {
    /** Entries per block of the draw's cumulative search. */
    static final int BLOCK = 256;
    /** Proposals before the tempered pass takes over: each costs about a block, a pass the whole row. */
    static final int MAX_PROPOSALS = 16;
    private static final boolean VECTOR_AVAILABLE = vectorAvailable();

    /** How the passes over a row run. */
    public enum Passes {
        /** jdk.incubator.vector; falls back to {@link #SCALAR} when the module is absent. */
        VECTOR,
        /** One scalar loop per step of the computation (the implementation before the vector passes). */
        SCALAR
    }

    /** The vector passes with their scratch, or null for the scalar ones. */
    private final VectorPasses vectorPasses;
    private float[] weights = new float[0];
    /** Scratch for top-k's selection and the nucleus's kept weights. */
    private float[] spare = new float[0];
    /** weights as a segment, for the vector max (min-p). */
    private MemorySegment weightsSegment = MemorySegment.ofArray(weights);
    /** A segment's row copied for the scalar passes. */
    private float[] row = new float[0];
    private double[] blockSums = new double[0];
    private int[] order = new int[0];
    private long[] keys = new long[0];
    private float lastLogprob;
    /** Proposals made and draws that fell back to the tempered pass, since this instance was made (tests, benchmarks). */
    long proposals, fallbacks;
    /** For rows whose max is NaN or +∞ (made on first need). */
    private TokenSampler scalarTwin;

    /** Vector passes when the module is loaded, unless {@code -Dtina.sampling.passes=scalar}. */
    public TokenSampler() {
        this(defaultPasses());
    }

    public TokenSampler(Passes passes) {
        this.vectorPasses = passes == Passes.VECTOR && VECTOR_AVAILABLE ? new VectorPasses() : null;
    }

    /** The passes this instance runs. */
    public Passes passes() { return vectorPasses != null ? Passes.VECTOR : Passes.SCALAR; }

    public static Passes defaultPasses() {
        return "scalar".equalsIgnoreCase(System.getProperty("tina.sampling.passes")) || !VECTOR_AVAILABLE ? Passes.SCALAR : Passes.VECTOR;
    }

    private static boolean vectorAvailable() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) return false;
        try {
            return VectorPasses.usable();
        } catch (LinkageError e) {
            return false;
        }
    }

    /**
     * Samples a token and remembers its unscaled log-probability ({@link #lastLogprob()}); at
     * temperature 1 the normaliser comes from the same pass over the vocabulary as the weights.
     */
    public int sampleWithLogprob(float[] logits, int offset, int vocab, SamplingParams p, SplittableRandom rng) {
        if (vectorPasses != null) return sampleVector(MemorySegment.ofArray(logits), offset, vocab, p, rng, true);
        return scalarWithLogprob(logits, offset, vocab, p, rng);
    }

    /**
     * As {@link #sampleWithLogprob(float[], int, int, SamplingParams, SplittableRandom)} over
     * floats in a segment (ONNX Runtime's output buffer, or a heap array wrapped once per step),
     * {@code offset} counted in floats: the vector passes read it where it lies.
     */
    public int sampleWithLogprob(MemorySegment logits, long offset, int vocab, SamplingParams p, SplittableRandom rng) {
        if (vectorPasses != null) return sampleVector(logits, offset, vocab, p, rng, true);
        return scalarWithLogprob(rowCopy(logits, offset, vocab), 0, vocab, p, rng);
    }

    public float lastLogprob() { return lastLogprob; }

    /**
     * Chosen token id; {@code rng} gives none of its draws when greedy, one when truncating or at
     * T ≥ 1, and two per proposal below T = 1 (always the same for the same row and stream).
     */
    public int sample(float[] logits, int offset, int vocab, SamplingParams p, SplittableRandom rng) {
        if (vectorPasses != null) return sampleVector(MemorySegment.ofArray(logits), offset, vocab, p, rng, false);
        return scalar(logits, offset, vocab, p, rng);
    }

    /** As {@link #sample(float[], int, int, SamplingParams, SplittableRandom)} over floats in a segment. */
    public int sample(MemorySegment logits, long offset, int vocab, SamplingParams p, SplittableRandom rng) {
        if (vectorPasses != null) return sampleVector(logits, offset, vocab, p, rng, false);
        return scalar(rowCopy(logits, offset, vocab), 0, vocab, p, rng);
    }

    /** The scalar passes read a heap row: a segment's row is copied into scratch first. */
    private float[] rowCopy(MemorySegment logits, long offset, int vocab) {
        if (row.length < vocab) row = new float[vocab];
        MemorySegment.copy(logits, ValueLayout.JAVA_FLOAT, offset * Float.BYTES, row, 0, vocab);
        return row;
    }

    private int scalarWithLogprob(float[] logits, int offset, int vocab, SamplingParams p, SplittableRandom rng) {
        if (p.isGreedy() || (p.temperature() != 1.0 && !proposes(p, vocab))) { // proposals keep the normaliser
            int token = scalar(logits, offset, vocab, p, rng);
            lastLogprob = fastLogprob(logits, offset, vocab, token);
            return token;
        }
        return scalar(logits, offset, vocab, p, rng);
    }

    /** The scalar passes: one loop per step of the computation. */
    private int scalar(float[] logits, int offset, int vocab, SamplingParams p, SplittableRandom rng) {
        if (p.isGreedy()) return argmax(logits, offset, vocab);
        ensure(vocab);
        double invT = 1.0 / p.temperature();
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i]);
        if (proposes(p, vocab)) {
            for (int i = 0; i < vocab; i++) weights[i] = FastExp.exp(logits[offset + i] - max);
            double all = 0;
            for (int i = 0; i < vocab; i++) all += weights[i];
            double excess = invT - 1;
            for (int k = 0; k < MAX_PROPOSALS; k++) {
                proposals++;
                int i = walk(vocab, rng.nextDouble() * all);
                if (rng.nextDouble() < Math.exp((logits[offset + i] - max) * excess)) {
                    lastLogprob = (float) (logits[offset + i] - (max + Math.log(all)));
                    return i;
                }
            }
            // the tempered pass, from fresh uniforms, with the normaliser kept
            fallbacks++;
            float invTf = (float) invT;
            for (int i = 0; i < vocab; i++) weights[i] = FastExp.exp((logits[offset + i] - max) * invTf);
            double total = 0;
            for (int i = 0; i < vocab; i++) total += weights[i];
            int chosen = walk(vocab, rng.nextDouble() * total);
            lastLogprob = (float) (logits[offset + chosen] - (max + Math.log(all)));
            return chosen;
        }
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
        int chosen = walk(vocab, rng.nextDouble() * total);
        lastLogprob = (float) (logits[offset + chosen] - logNormaliser);
        return chosen;
    }

    /** Below T = 1 with no truncation the draw proposes from the temperature-1 weights (see the class comment). */
    private static boolean proposes(SamplingParams p, int vocab) {
        return p.temperature() < 1 && !(p.topK() > 0 && p.topK() < vocab) && p.topP() >= 1 && p.minP() <= 0;
    }

    /** The first token whose cumulative weight exceeds {@code u}, one weight at a time. */
    private int walk(int vocab, double u) {
        int chosen = -1;
        for (int i = 0; i < vocab; i++) {
            if (weights[i] == 0) continue;
            chosen = i; // rounding may leave u ≥ 0 at the end: the last kept token
            u -= weights[i];
            if (u < 0) break;
        }
        return chosen;
    }

    private int sampleVector(MemorySegment logits, long offset, int vocab, SamplingParams p, SplittableRandom rng, boolean logprob) {
        float max = VectorPasses.max(logits, offset, vocab);
        if (Float.isNaN(max) || max == Float.POSITIVE_INFINITY) {
            // no finite top: the scalar passes define what happens
            if (scalarTwin == null) scalarTwin = new TokenSampler(Passes.SCALAR);
            int token = logprob ? scalarTwin.sampleWithLogprob(logits, offset, vocab, p, rng) : scalarTwin.sample(logits, offset, vocab, p, rng);
            lastLogprob = scalarTwin.lastLogprob;
            return token;
        }
        if (p.isGreedy()) {
            int token = VectorPasses.firstIndexOf(logits, offset, vocab, max);
            if (logprob) {
                lastLogprob = (float) (VectorPasses.get(logits, offset + token) - max - Math.log(vectorPasses.expSum(logits, offset, vocab, max)));
            }
            return token;
        }
        ensure(vocab);
        float invTf = (float) (1.0 / p.temperature());
        if (proposes(p, vocab)) {
            // one pass: the temperature-1 weights' block sums, which are also the normaliser
            double all = vectorPasses.expSum(logits, offset, vocab, max, blockSums);
            int blocks = (vocab + BLOCK - 1) / BLOCK;
            double excess = 1.0 / p.temperature() - 1;
            int chosen = -1;
            for (int k = 0; k < MAX_PROPOSALS && chosen < 0; k++) {
                proposals++;
                int i = draw(logits, offset, vocab, max, 1f, false, rng.nextDouble() * all);
                if (rng.nextDouble() < Math.exp((VectorPasses.get(logits, offset + i) - max) * excess)) chosen = i;
            }
            if (chosen < 0) { // the tempered pass, from fresh uniforms
                fallbacks++;
                vectorPasses.temperedPass(logits, offset, vocab, max, invTf, blockSums, null);
                double total = 0;
                for (int b = 0; b < blocks; b++) total += blockSums[b];
                chosen = draw(logits, offset, vocab, max, invTf, false, rng.nextDouble() * total);
            }
            lastLogprob = (float) (VectorPasses.get(logits, offset + chosen) - (max + Math.log(all)));
            return chosen;
        }
        boolean unitT = p.temperature() == 1.0;
        boolean topK = p.topK() > 0 && p.topK() < vocab, truncate = topK || p.topP() < 1 || p.minP() > 0;
        float[] store = truncate ? weights : null;
        vectorPasses.temperedPass(logits, offset, vocab, max, invTf, blockSums, store);
        // a second pass reads the row again from cache: cheaper than both exps in one loop
        double unscaled = unitT ? Double.NaN : vectorPasses.expSum(logits, offset, vocab, max);
        int blocks = (vocab + BLOCK - 1) / BLOCK;
        double all = 0;
        for (int b = 0; b < blocks; b++) all += blockSums[b];
        if (truncate) {
            if (topK) VectorPasses.zeroBelow(weights, vocab, kthLargest(weights, vocab, p.topK()));
            if (p.topP() < 1) nucleus(vocab, p.topP());
            if (p.minP() > 0) VectorPasses.zeroBelow(weights, vocab, (float) (p.minP() * Math.max(0f, VectorPasses.max(weightsSegment, 0, vocab))));
            vectorPasses.blockSums(weights, vocab, blockSums);
        }
        double total = 0;
        for (int b = 0; b < blocks; b++) total += blockSums[b];
        int chosen = draw(logits, offset, vocab, max, invTf, truncate, rng.nextDouble() * total);
        float chosenLogit = VectorPasses.get(logits, offset + chosen);
        lastLogprob = unitT ? (float) (chosenLogit - (max + Math.log(all))) : (float) (chosenLogit - max - Math.log(unscaled));
        return chosen;
    }

    /**
     * The first token whose cumulative weight exceeds {@code u}, as the scalar loop finds it:
     * whole blocks are skipped by their sums, and only the block holding u is walked token by
     * token (its weights recomputed unless {@code stored}).
     */
    private int draw(MemorySegment logits, long offset, int vocab, float max, float invT, boolean stored, double u) {
        for (int start = 0, b = 0; start < vocab; start += BLOCK, b++) {
            double s = blockSums[b];
            if (u - s >= 0) {
                u -= s;
                continue;
            }
            for (int i = start, end = Math.min(vocab, start + BLOCK); i < end; i++) {
                float w = stored ? weights[i] : FastExp.exp((VectorPasses.get(logits, offset + i) - max) * invT);
                if (w == 0) continue;
                u -= w;
                if (u < 0) return i;
            }
            // rounding left u ≥ 0 past this block's tokens: go on from the next block
        }
        // rounding may leave u ≥ 0 at the end: the last kept token
        for (int i = vocab - 1; i >= 0; i--) {
            if (!stored || weights[i] != 0) return i;
        }
        throw new IllegalStateException("no token with a positive weight");
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
            for (int j = 0; j < keep; j++) spare[j] = weights[order[j]];
            Arrays.fill(weights, 0, vocab, 0f);
            for (int j = 0; j < keep; j++) weights[order[j]] = spare[j];
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

    /** The k-th largest of w[0..vocab), by selection on a scratch copy (expected linear time). */
    private float kthLargest(float[] w, int vocab, int k) {
        System.arraycopy(w, 0, spare, 0, vocab);
        return select(spare, vocab, vocab - k);
    }

    /** The value at index {@code rank} of a[0..n) sorted ascending; reorders a. */
    static float select(float[] a, int n, int rank) {
        int lo = 0, hi = n - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            // median of three as the pivot
            float x = a[lo], y = a[mid], z = a[hi];
            float pivot = x < y ? (y < z ? y : Math.max(x, z)) : (x < z ? x : Math.max(y, z));
            int i = lo, j = hi;
            while (i <= j) {
                while (a[i] < pivot) i++;
                while (a[j] > pivot) j--;
                if (i <= j) {
                    float t = a[i];
                    a[i++] = a[j];
                    a[j--] = t;
                }
            }
            // now a[lo..j] ≤ pivot ≤ a[i..hi], and a(j..i) = pivot
            if (rank <= j) hi = j;
            else if (rank >= i) lo = i;
            else return a[rank];
        }
        return a[rank];
    }

    private void ensure(int vocab) {
        if (weights.length < vocab) {
            weights = new float[vocab];
            weightsSegment = MemorySegment.ofArray(weights);
            spare = new float[vocab];
            order = new int[vocab];
            blockSums = new double[(vocab + BLOCK - 1) / BLOCK];
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
