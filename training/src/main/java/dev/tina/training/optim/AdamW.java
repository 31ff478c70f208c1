package dev.tina.training.optim;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * PyTorch's {@code torch.optim.AdamW} (decoupled weight decay, bias correction), in the order of
 * operations of its single-tensor implementation, over float32 parameters held in Java, with
 * PyTorch's {@code clip_grad_norm_} before it. Used with gradients that ONNX Runtime computes:
 * the update is O(parameters) arithmetic, deterministic, and its state is plain arrays, which
 * makes exact resumption and handing the weights to the sampler trivial.
 */
public final class AdamW {
    private final double beta1, beta2, eps, weightDecay;
    private final Map<String, float[]> expAvg = new LinkedHashMap<>(), expAvgSq = new LinkedHashMap<>();
    private long step;

    public AdamW(double beta1, double beta2, double eps, double weightDecay) {
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("AdamW betas must be in [0, 1)");
        if (!(eps > 0)) throw new IllegalArgumentException("AdamW epsilon must be > 0");
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight_decay must be >= 0");
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    public long step() { return step; }

    public Map<String, float[]> expAvg() { return expAvg; }

    public Map<String, float[]> expAvgSq() { return expAvgSq; }

    /** Restores state saved from {@link #expAvg()}, {@link #expAvgSq()} and {@link #step()}. */
    public void restore(long step, Map<String, float[]> m, Map<String, float[]> v) {
        this.step = step;
        expAvg.clear();
        expAvgSq.clear();
        m.forEach((k, a) -> expAvg.put(k, a.clone()));
        v.forEach((k, a) -> expAvgSq.put(k, a.clone()));
    }

    /** One update of every parameter in place. */
    public void update(Map<String, float[]> params, Map<String, float[]> grads, double lr) {
        step++;
        double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
        float stepSize = (float) (lr / bc1);
        float bc2Sqrt = (float) Math.sqrt(bc2);
        float decay = (float) (1 - lr * weightDecay);
        float b1 = (float) beta1, b2 = (float) beta2, e = (float) eps;
        for (var entry : params.entrySet()) {
            float[] p = entry.getValue(), g = grads.get(entry.getKey());
            if (g == null || g.length != p.length) throw new IllegalArgumentException("no gradient of matching size for " + entry.getKey());
            float[] m = expAvg.computeIfAbsent(entry.getKey(), k -> new float[p.length]);
            float[] v = expAvgSq.computeIfAbsent(entry.getKey(), k -> new float[p.length]);
            for (int i = 0; i < p.length; i++) {
                p[i] *= decay;
                m[i] += (g[i] - m[i]) * (1 - b1);               // lerp, as torch does
                v[i] = v[i] * b2 + (1 - b2) * g[i] * g[i];
                float denom = (float) Math.sqrt(v[i]) / bc2Sqrt + e;
                p[i] -= stepSize * m[i] / denom;
            }
        }
    }

    /**
     * Scales all gradients by min(1, maxNorm / (‖g‖ + 1e-6)) where ‖g‖ is the global L2 norm
     * (summed in double, in map order: deterministic); returns the norm before clipping.
     */
    public static double clipGlobalNorm(Map<String, float[]> grads, double maxNorm) {
        double sq = 0;
        for (float[] g : grads.values()) for (float x : g) sq += (double) x * x;
        double norm = Math.sqrt(sq);
        if (!Double.isFinite(norm)) return norm;
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1) {
            float c = (float) coef;
            for (float[] g : grads.values()) for (int i = 0; i < g.length; i++) g[i] *= c;
        }
        return norm;
    }
}
