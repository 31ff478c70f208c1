package dev.tina.runtime.sampling;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The vector passes against the scalar ones (the sampler before them) and against exact softmax. */
class VectorPassesTest {
    static final int QWEN_VOCAB = 151_936;

    static SamplingParams params(double t, double topP, int topK, double minP) {
        return new SamplingParams(1, t, topP, topK, minP, 1, List.of(), Set.of(), 0);
    }

    static float[] gaussianRows(int rows, int vocab, double scale, long seed) {
        SplittableRandom g = new SplittableRandom(seed);
        float[] l = new float[rows * vocab];
        for (int i = 0; i < l.length; i++) l[i] = (float) (g.nextGaussian() * scale);
        return l;
    }

    @Test
    void theBuildRunsTheVectorPasses() {
        // surefire, ./tina and Spark executors add jdk.incubator.vector; without it this would be SCALAR
        assertEquals(TokenSampler.Passes.VECTOR, new TokenSampler().passes());
        assertEquals(TokenSampler.Passes.SCALAR, new TokenSampler(TokenSampler.Passes.SCALAR).passes());
    }

    @Test
    void weightsAreBitIdenticalToFastExp() {
        VectorPasses v = new VectorPasses();
        for (int vocab : new int[]{QWEN_VOCAB, 1000, 257, 13}) {
            float[] l = gaussianRows(1, vocab + 3, 4, vocab);
            l[5] = -1e4f; // below exp's clamp
            l[7] = -0f;
            MemorySegment seg = MemorySegment.ofArray(l);
            float max = VectorPasses.max(seg, 3, vocab);
            for (float invT : new float[]{1f, (float) (1 / 0.7), 0.5f}) {
                float[] w = new float[vocab];
                double[] blocks = new double[(vocab + TokenSampler.BLOCK - 1) / TokenSampler.BLOCK];
                v.temperedPass(seg, 3, vocab, max, invT, blocks, w);
                double total = 0;
                for (int i = 0; i < vocab; i++) {
                    float want = FastExp.exp((l[3 + i] - max) * invT);
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(w[i]), "vocab " + vocab + " entry " + i);
                    total += want;
                }
                double blockTotal = 0;
                for (double b : blocks) blockTotal += b;
                assertEquals(total, blockTotal, 1e-12 * total);
            }
        }
    }

    @Test
    void theNormaliserIsWithinFloatPrecisionOfExact() {
        VectorPasses v = new VectorPasses();
        for (int vocab : new int[]{QWEN_VOCAB, 1000, 13}) {
            float[] l = gaussianRows(1, vocab, 6, vocab + 1);
            l[vocab / 2] = -500f; // below exp's clamp: a negligible term, never garbage
            MemorySegment seg = MemorySegment.ofArray(l);
            float max = VectorPasses.max(seg, 0, vocab);
            double exact = 0;
            for (float x : l) exact += Math.exp(x - max);
            assertEquals(exact, v.expSum(seg, 0, vocab, max), 1e-6 * exact, "vocab " + vocab);
        }
    }

    @Test
    void maxAndFirstIndexMatchTheScalarArgmax() {
        for (int vocab : new int[]{QWEN_VOCAB, 32_000, 37, 1}) {
            float[] l = gaussianRows(1, vocab, 3, 11);
            int top = vocab / 3;
            l[top] = 100f;
            if (vocab > 2) l[vocab - 1] = 100f; // a tie: the first index wins
            MemorySegment seg = MemorySegment.ofArray(l);
            float max = VectorPasses.max(seg, 0, vocab);
            assertEquals(TokenSampler.argmax(l, 0, vocab), VectorPasses.firstIndexOf(seg, 0, vocab, max));
        }
    }

    /**
     * Same seed, same token: the weights are the same bits and the uniform draw is inverted through
     * the same cumulative weights (summed in a different order only in the last bits of a double).
     */
    @Test
    void vectorAndScalarPassesDrawTheSameTokens() {
        SamplingParams[] cases = {
                params(0, 1, 0, 0), params(0.7, 1, 0, 0), params(1.0, 1, 0, 0), params(1.5, 1, 0, 0),
                params(0.7, 0.9, 0, 0), params(1.0, 1, 50, 0), params(0.7, 1, 0, 0.05), params(0.9, 0.95, 40, 0.01)};
        TokenSampler vector = new TokenSampler(TokenSampler.Passes.VECTOR), scalar = new TokenSampler(TokenSampler.Passes.SCALAR);
        int[][] shapes = {{QWEN_VOCAB, 12}, {32_000, 40}, {1003, 200}, {7, 200}};
        for (int[] shape : shapes) {
            int vocab = shape[0], rows = shape[1];
            float[] l = gaussianRows(rows, vocab, 1 + vocab % 5, vocab);
            for (SamplingParams p : cases) {
                SplittableRandom a = new SplittableRandom(42), b = new SplittableRandom(42);
                for (int r = 0; r < rows; r++) {
                    int tv = vector.sampleWithLogprob(l, r * vocab, vocab, p, a), ts = scalar.sampleWithLogprob(l, r * vocab, vocab, p, b);
                    assertEquals(ts, tv, "vocab " + vocab + ", " + p + ", row " + r);
                    assertEquals(scalar.lastLogprob(), vector.lastLogprob(), 1e-5, "log-probability, vocab " + vocab + ", row " + r);
                    assertEquals(TokenSampler.logprob(l, r * vocab, vocab, tv), vector.lastLogprob(), 2e-5, "against exact log-softmax");
                }
            }
        }
    }

    /** The in-place engine hands the sampler its native output buffer: same tokens as from a heap copy. */
    @Test
    void nativeSegmentsSampleAsHeapArrays() {
        int vocab = 32_000, rows = 8;
        float[] l = gaussianRows(rows, vocab, 2, 8);
        TokenSampler heap = new TokenSampler(TokenSampler.Passes.VECTOR), direct = new TokenSampler(TokenSampler.Passes.VECTOR),
                scalar = new TokenSampler(TokenSampler.Passes.SCALAR);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(4L * l.length, 64);
            MemorySegment.copy(l, 0, seg, ValueLayout.JAVA_FLOAT, 0, l.length);
            for (SamplingParams p : new SamplingParams[]{params(0, 1, 0, 0), params(0.7, 1, 0, 0), params(1, 0.9, 40, 0)}) {
                SplittableRandom a = new SplittableRandom(1), b = new SplittableRandom(1), c = new SplittableRandom(1);
                for (int r = 0; r < rows; r++) {
                    int t = heap.sampleWithLogprob(l, r * vocab, vocab, p, a);
                    assertEquals(t, direct.sampleWithLogprob(seg, (long) r * vocab, vocab, p, b));
                    assertEquals(heap.lastLogprob(), direct.lastLogprob());
                    assertEquals(t, scalar.sampleWithLogprob(seg, (long) r * vocab, vocab, p, c), "the scalar passes over a segment");
                }
            }
        }
    }

    /**
     * Pearson's chi-square of many draws on fixed logits against the exact tempered softmax, for
     * both passes. Below T = 1 the draws are proposals accepted or rejected: T 0.7 accepts most
     * of them, T 0.15 (Σe/Σe^(1/T) about 15 here) falls back to the tempered pass after
     * {@link TokenSampler#MAX_PROPOSALS} rejections on a third of the draws; both must be exact.
     */
    @ParameterizedTest
    @EnumSource(TokenSampler.Passes.class)
    void drawsFollowTheTemperedDistributionOverSeveralBlocks(TokenSampler.Passes passes) {
        int vocab = 1000, draws = 200_000;
        float[] l = gaussianRows(1, vocab, 1.5, 5);
        for (double t : new double[]{0.7, 1.0, 0.15}) {
            double[] p = new double[vocab];
            double z = 0;
            for (int i = 0; i < vocab; i++) z += p[i] = Math.exp(l[i] / t);
            int[] counts = new int[vocab];
            TokenSampler s = new TokenSampler(passes);
            SplittableRandom rng = new SplittableRandom(9);
            for (int k = 0; k < draws; k++) counts[s.sample(l, 0, vocab, params(t, 1, 0, 0), rng)]++;
            // merge tokens into bins of expected count ≥ 20
            double chi2 = 0, expected = 0, observed = 0;
            int bins = 0;
            for (int i = 0; i < vocab; i++) {
                expected += draws * p[i] / z;
                observed += counts[i];
                if (expected >= 20 || i == vocab - 1) {
                    chi2 += (observed - expected) * (observed - expected) / expected;
                    bins++;
                    expected = observed = 0;
                }
            }
            int df = bins - 1;
            // Wilson–Hilferty: the 0.999 quantile of chi-square(df)
            double h = 2.0 / (9 * df), critical = df * Math.pow(1 - h + 3.09 * Math.sqrt(h), 3);
            assertTrue(bins > (t < 0.5 ? 5 : 100), "bins " + bins);
            if (t == 0.7) assertTrue(s.fallbacks < draws / 1000 && s.proposals < 3L * draws, s.proposals + " proposals, " + s.fallbacks + " fallbacks");
            if (t == 0.15) assertTrue(s.fallbacks > draws / 10, s.fallbacks + " of " + draws + " draws fell back: the test must reach that path");
            assertTrue(chi2 < critical, "T " + t + ": chi-square " + chi2 + " over " + df + " degrees of freedom, 0.999 quantile " + critical);
        }
    }

    @Test
    void rowsWithoutAFiniteMaxTakeTheScalarPath() {
        float[] l = gaussianRows(1, 600, 1, 3);
        l[10] = Float.NaN;
        TokenSampler vector = new TokenSampler(TokenSampler.Passes.VECTOR), scalar = new TokenSampler(TokenSampler.Passes.SCALAR);
        for (SamplingParams p : new SamplingParams[]{params(0, 1, 0, 0), params(1, 1, 0, 0)}) {
            assertEquals(scalar.sampleWithLogprob(l, 0, 600, p, new SplittableRandom(1)), vector.sampleWithLogprob(l, 0, 600, p, new SplittableRandom(1)));
        }
    }

    @Test
    void selectFindsTheOrderStatistic() {
        SplittableRandom g = new SplittableRandom(2);
        for (int trial = 0; trial < 200; trial++) {
            int n = 1 + g.nextInt(300);
            float[] a = new float[n];
            for (int i = 0; i < n; i++) a[i] = g.nextInt(1 + trial % 20); // many ties
            float[] sorted = a.clone();
            Arrays.sort(sorted);
            int rank = g.nextInt(n);
            assertEquals(sorted[rank], TokenSampler.select(a, n, rank), "trial " + trial);
        }
    }
}
