package dev.tina.training.optim;

import dev.tina.training.ort.GradientEngine;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The reduction of one optimizer step: the micro-batches' results summed in micro-batch index
 * order, whatever order they arrived in. Float addition is not associative, so a fixed order is
 * what makes a step computed by several processes give the bits a single process gives.
 */
public final class GradientSum {
    /** A micro-batch's result with its index in the step. */
    public record Part(int index, GradientEngine.Result result) {
        public Part {
            if (index < 0) throw new IllegalArgumentException("micro-batch index must be >= 0, got " + index);
        }
    }

    /** The mean loss and gradients of a step, and the per-token log-probs and KL of each micro-batch in index order. */
    public record Mean(double loss, Map<String, float[]> gradients, List<float[]> logps, List<float[]> kl, int microBatches) {}

    private GradientSum() {}

    /**
     * Averages {@code parts} (indices 0 … n−1, each once) over the micro-batches as transformers'
     * Trainer does: Σ in index order, then × 1/n.
     */
    public static Mean mean(List<Part> parts) {
        if (parts.isEmpty()) throw new IllegalArgumentException("an optimizer step needs at least one micro-batch");
        GradientEngine.Result[] byIndex = new GradientEngine.Result[parts.size()];
        for (Part p : parts) {
            if (p.index() >= byIndex.length) {
                throw new IllegalArgumentException("micro-batch index " + p.index() + " in a step of " + byIndex.length + " micro-batches");
            }
            if (byIndex[p.index()] != null) throw new IllegalArgumentException("micro-batch " + p.index() + " given twice");
            byIndex[p.index()] = p.result();
        }
        Map<String, float[]> sum = new LinkedHashMap<>();
        double loss = 0;
        List<float[]> logps = new ArrayList<>(), kls = new ArrayList<>();
        for (GradientEngine.Result r : byIndex) {
            loss += r.loss();
            logps.add(r.logps());
            if (r.kl() != null) kls.add(r.kl());
            for (var e : r.gradients().entrySet()) {
                float[] acc = sum.computeIfAbsent(e.getKey(), k -> new float[e.getValue().length]);
                float[] g = e.getValue();
                if (g.length != acc.length) {
                    throw new IllegalArgumentException("gradient of " + e.getKey() + " has " + g.length + " values, expected " + acc.length);
                }
                for (int i = 0; i < g.length; i++) acc[i] += g[i];
            }
        }
        float inv = 1f / byIndex.length;
        for (float[] g : sum.values()) for (int i = 0; i < g.length; i++) g[i] *= inv;
        return new Mean(loss / byIndex.length, sum, logps, kls, byIndex.length);
    }
}
