package dev.tina.runtime.sampling;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The sampler's passes over one row of logits with the Vector API (jdk.incubator.vector; this
 * class is only loaded when that module is present, see {@link TokenSampler}). Rows are read
 * where they lie, ONNX Runtime's output buffer or a heap array, as a {@link MemorySegment}
 * indexed in floats. Every weight is bit-identical to {@link FastExp#exp}: the same float
 * operations in the same order, lane by lane (the same fused multiply-adds). Sums are
 * accumulated in double lanes and the lanes added in index order, so they differ from a
 * sequential double sum only in the last bits and are the same on every call.
 */
final class VectorPasses {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Doubles in the same vector width: half of F's lanes. */
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final float C5 = FastExp.C5, C6 = FastExp.C6;
    private static final FloatVector V1 = FloatVector.broadcast(F, FastExp.C1), V2 = FloatVector.broadcast(F, FastExp.C2),
            V3 = FloatVector.broadcast(F, FastExp.C3), V4 = FloatVector.broadcast(F, FastExp.C4), ONE = FloatVector.broadcast(F, 1f);

    /** Scratch for adding a vector's lanes in order. */
    private final double[] lanes = new double[D.length()];
    private final float[] floatLanes = new float[L];

    /** Whether this machine's preferred vector holds whole blocks and pairs up with its double vector. */
    static boolean usable() {
        return L >= 4 && TokenSampler.BLOCK % L == 0 && D.length() * 2 == L;
    }

    /** max(a[off..off+n)), NaN if any is NaN (as a chain of Math.max). */
    static float max(MemorySegment a, long off, int n) {
        int i = 0, upper4 = n - n % (4 * L), upper = F.loopBound(n);
        FloatVector m0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY), m1 = m0, m2 = m0, m3 = m0;
        for (; i < upper4; i += 4 * L) { // four chains: max's latency, not its throughput, bounds one
            m0 = m0.max(load(a, off + i));
            m1 = m1.max(load(a, off + i + L));
            m2 = m2.max(load(a, off + i + 2 * L));
            m3 = m3.max(load(a, off + i + 3 * L));
        }
        for (; i < upper; i += L) m0 = m0.max(load(a, off + i));
        float r = m0.max(m1).max(m2.max(m3)).reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) r = Math.max(r, get(a, off + i));
        return r;
    }

    private static FloatVector load(MemorySegment a, long index) {
        return FloatVector.fromMemorySegment(F, a, index * Float.BYTES, ByteOrder.nativeOrder());
    }

    static float get(MemorySegment a, long index) {
        return a.getAtIndex(ValueLayout.JAVA_FLOAT, index);
    }

    /** The first i with a[off + i] == v, or -1. */
    static int firstIndexOf(MemorySegment a, long off, int n, float v) {
        int i = 0, upper = F.loopBound(n);
        for (; i < upper; i += L) {
            VectorMask<Float> eq = load(a, off + i).compare(VectorOperators.EQ, v);
            if (eq.anyTrue()) return i + eq.firstTrue();
        }
        for (; i < n; i++) if (get(a, off + i) == v) return i;
        return -1;
    }

    /** FastExp.exp of every lane, bit for bit: the same operations, the fused multiply-adds included. */
    static FloatVector exp(FloatVector x) {
        FloatVector t = x.mul(FastExp.LOG2E).max(-126f);
        FloatVector k = t.add(FastExp.ROUND).sub(FastExp.ROUND);
        FloatVector f = t.sub(k);
        FloatVector p = f.fma(C6, C5).fma(f, V4).fma(f, V3).fma(f, V2).fma(f, V1).fma(f, ONE);
        return pow2(k).mul(p);
    }

    /** 2^k for integral k in [-126, 127]: k + 127 lands in the low bits of k + 127 + 1.5·2^23, shifted into the exponent. */
    private static FloatVector pow2(FloatVector k) {
        return k.add(FastExp.ROUND + 127f).reinterpretAsInts().lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
    }

    /**
     * w_i = FastExp.exp((l_i − max)·invT) for the row, stored into {@code weights} unless it is
     * null; {@code blockSums[b]} gets the sum of block b's weights ({@link TokenSampler#BLOCK}
     * entries each).
     */
    void temperedPass(MemorySegment l, long off, int n, float max, float invT, double[] blockSums, float[] weights) {
        int block = 0;
        for (int start = 0; start < n; start += TokenSampler.BLOCK, block++) {
            int end = Math.min(n, start + TokenSampler.BLOCK), i = start, upper = start + F.loopBound(end - start);
            DoubleVector s0 = DoubleVector.zero(D), s1 = DoubleVector.zero(D);
            for (; i < upper; i += L) {
                FloatVector w = exp(load(l, off + i).sub(max).mul(invT));
                if (weights != null) w.intoArray(weights, i);
                s0 = s0.add(w.convertShape(VectorOperators.F2D, D, 0));
                s1 = s1.add(w.convertShape(VectorOperators.F2D, D, 1));
            }
            double sum = inOrder(s0.add(s1));
            for (; i < end; i++) {
                float w = FastExp.exp((get(l, off + i) - max) * invT);
                if (weights != null) weights[i] = w;
                sum += w;
            }
            blockSums[block] = sum;
        }
    }

    /** Σ exp(l_i − max) over the row (float lanes within a block, double across blocks). */
    double expSum(MemorySegment l, long off, int n, float max) {
        return expSum(l, off, n, max, null);
    }

    /**
     * As {@link #expSum(MemorySegment, long, int, float)}, also writing each block's sum into
     * {@code blockSums} (unless null): the temperature-1 proposals' cumulative search, whose total
     * is then the same normaliser bit for bit.
     */
    double expSum(MemorySegment l, long off, int n, float max, double[] blockSums) {
        double sum = 0;
        int block = 0;
        for (int start = 0; start < n; start += TokenSampler.BLOCK, block++) {
            int end = Math.min(n, start + TokenSampler.BLOCK), i = start, upper = start + F.loopBound(end - start);
            FloatVector u = FloatVector.zero(F);
            for (; i < upper; i += L) u = u.add(exp(load(l, off + i).sub(max)));
            double b = inOrder(u);
            for (; i < end; i++) b += FastExp.exp(get(l, off + i) - max);
            if (blockSums != null) blockSums[block] = b;
            sum += b;
        }
        return sum;
    }

    /** blockSums[b] = the sum of weights in block b (after truncation zeroed some). */
    void blockSums(float[] w, int n, double[] blockSums) {
        int block = 0;
        for (int start = 0; start < n; start += TokenSampler.BLOCK, block++) {
            int end = Math.min(n, start + TokenSampler.BLOCK), i = start, upper = start + F.loopBound(end - start);
            DoubleVector s0 = DoubleVector.zero(D), s1 = DoubleVector.zero(D);
            for (; i < upper; i += L) {
                FloatVector v = FloatVector.fromArray(F, w, i);
                s0 = s0.add(v.convertShape(VectorOperators.F2D, D, 0));
                s1 = s1.add(v.convertShape(VectorOperators.F2D, D, 1));
            }
            double sum = inOrder(s0.add(s1));
            for (; i < end; i++) sum += w[i];
            blockSums[block] = sum;
        }
    }

    /** Zeroes every weight below {@code cut}. */
    static void zeroBelow(float[] w, int n, float cut) {
        int i = 0, upper = F.loopBound(n);
        for (; i < upper; i += L) {
            FloatVector v = FloatVector.fromArray(F, w, i);
            v.blend(0f, v.compare(VectorOperators.LT, cut)).intoArray(w, i);
        }
        for (; i < n; i++) if (w[i] < cut) w[i] = 0;
    }

    /** The lanes' sum in lane order: the same result on every call (reduceLanes leaves the order open). */
    private double inOrder(DoubleVector v) {
        v.intoArray(lanes, 0);
        double s = 0;
        for (double x : lanes) s += x;
        return s;
    }

    private double inOrder(FloatVector v) {
        v.intoArray(floatLanes, 0);
        double s = 0;
        for (float x : floatLanes) s += x;
        return s;
    }
}
