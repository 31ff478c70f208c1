package dev.tina.runtime;

import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.checkpoint.TensorView;
import dev.tina.export.peft.PeftAdapter;

import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Compares an exported decoder's logits with a reference case file ({@code input_ids},
 * {@code attention_mask}, {@code position_ids}, {@code logits} and optionally {@code logits_lora}),
 * at the positions where the mask is 1 (padded positions carry no meaning).
 */
public final class ParityCheck {
    /**
     * One comparison over the real positions. {@code tolerance} null: a report (a quantized graph is
     * not expected to meet float32 tolerances): mean error, top-1 agreement and KL(reference ‖ graph)
     * per position say how far it is.
     */
    public record Comparison(String name, double maxAbsError, double meanAbsError, double top1Agreement, double meanKl, double maxKl,
                             long positions, Double tolerance) {
        public boolean passed() { return tolerance == null ? !Double.isNaN(maxAbsError) && !Double.isNaN(meanKl) : maxAbsError <= tolerance; }

        public String line() {
            if (tolerance == null) {
                return String.format("%-12s max_abs_err=%.3e mean_abs_err=%.3e top1_agreement=%.4f kl_mean=%.3e kl_max=%.3e over %d positions  REPORT",
                        name, maxAbsError, meanAbsError, top1Agreement, meanKl, maxKl, positions);
            }
            return String.format("%-12s max_abs_err=%.3e over %d positions  %s (tolerance %.0e)",
                    name, maxAbsError, positions, passed() ? "OK" : "FAIL", tolerance);
        }
    }

    private ParityCheck() {}

    /** Full [batch, seq, vocab] logits of one pass from an empty cache, on some engine. */
    @FunctionalInterface
    public interface Forward {
        float[] logits(long[][] ids, long[][] mask, long[][] pos, AdapterBinding adapter) throws Exception;
    }

    /** @param tolerance null to report the error instead of checking it (quantized graphs) */
    public static List<Comparison> run(OrtDecoder decoder, PeftAdapter adapter, Path caseFile, Double tolerance) throws Exception {
        return run(decoder, (ids, mask, pos, a) -> {
            try (KvCache empty = KvCache.empty(decoder.environment(), decoder.descriptor(), ids.length);
                 DecoderOutput o = decoder.forward(ids, mask, pos, empty, a)) {
                FloatBuffer b = o.logits();
                float[] v = new float[b.remaining()];
                b.get(v);
                return v;
            }
        }, adapter, caseFile, tolerance);
    }

    /**
     * The same comparisons with the logits from {@code forward} (e.g. a TensorRT engine);
     * {@code decoder} provides the descriptor and the environment for adapter bindings.
     */
    public static List<Comparison> run(OrtDecoder decoder, Forward forward, PeftAdapter adapter, Path caseFile, Double tolerance) throws Exception {
        List<Comparison> out = new ArrayList<>();
        try (SafetensorsFile cs = SafetensorsFile.open(caseFile)) {
            long[][] ids = matrix(cs.tensor("input_ids"));
            long[][] mask = matrix(cs.tensor("attention_mask"));
            long[][] pos = matrix(cs.tensor("position_ids"));
            int v = decoder.descriptor().vocabSize();
            try (AdapterBinding none = AdapterBinding.none(decoder.environment(), decoder.descriptor())) {
                out.add(compare("logits", forward, v, ids, mask, pos, none, cs.tensor("logits"), tolerance));
            }
            TensorView lora = cs.tensors().get("logits_lora");
            if (adapter != null) {
                if (lora == null) throw new CheckpointFormatException(caseFile + ": --adapter given but the case has no tensor 'logits_lora'");
                try (AdapterBinding b = AdapterBinding.of(decoder.environment(), decoder.descriptor(), adapter)) {
                    out.add(compare("logits_lora", forward, v, ids, mask, pos, b, lora, tolerance));
                }
            }
        }
        return out;
    }

    private static Comparison compare(String name, Forward forward, int v, long[][] ids, long[][] mask, long[][] pos,
                                      AdapterBinding adapter, TensorView expected, Double tol) throws Exception {
        int b = ids.length, s = ids[0].length;
        long[] want = {b, s, v};
        if (!Arrays.equals(expected.shape(), want)) {
            throw new CheckpointFormatException(expected.file() + ": tensor '" + expected.name() + "' has shape "
                    + Arrays.toString(expected.shape()) + ", expected " + Arrays.toString(want));
        }
        float[] logits = forward.logits(ids, mask, pos, adapter);
        double max = 0, sumErr = 0, sumKl = 0, maxKl = 0;
        long count = 0, agree = 0;
        double[] ref = new double[v];
        for (int i = 0; i < b; i++) {
            for (int t = 0; t < s; t++) {
                if (mask[i][t] == 0) continue;
                count++;
                long base = ((long) i * s + t) * v;
                int refTop = 0, gotTop = 0;
                for (int k = 0; k < v; k++) {
                    ref[k] = expected.getDouble(base + k);
                    double got = logits[(int) (base + k)];
                    double err = Math.abs(got - ref[k]);
                    if (!(err <= max)) max = err; // NaN propagates as a failure
                    sumErr += err;
                    if (ref[k] > ref[refTop]) refTop = k;
                    if (got > logits[(int) (base + gotTop)]) gotTop = k;
                }
                if (refTop == gotTop) agree++;
                double kl = kl(ref, logits, (int) base, v);
                sumKl += kl;
                maxKl = Math.max(maxKl, kl);
            }
        }
        return new Comparison(name, max, sumErr / ((double) count * v), (double) agree / count, sumKl / count, maxKl, count, tol);
    }

    /** KL(p ‖ q) of the softmaxes of reference logits p and logits q[from, from + v), in nats. */
    static double kl(double[] p, float[] q, int from, int v) {
        double pMax = Double.NEGATIVE_INFINITY, qMax = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < v; k++) {
            pMax = Math.max(pMax, p[k]);
            qMax = Math.max(qMax, q[from + k]);
        }
        double pSum = 0, qSum = 0;
        for (int k = 0; k < v; k++) {
            pSum += Math.exp(p[k] - pMax);
            qSum += Math.exp(q[from + k] - qMax);
        }
        double pLse = pMax + Math.log(pSum), qLse = qMax + Math.log(qSum), kl = 0;
        for (int k = 0; k < v; k++) {
            double lp = p[k] - pLse, lq = q[from + k] - qLse;
            kl += Math.exp(lp) * (lp - lq);
        }
        return Math.max(0, kl);
    }

    /** The case's [batch, seq] as (batch, seq), for sizing an engine before running it. */
    public static int[] caseShape(Path caseFile) throws Exception {
        try (SafetensorsFile cs = SafetensorsFile.open(caseFile)) {
            long[] sh = cs.tensor("input_ids").shape();
            if (sh.length != 2) throw new CheckpointFormatException(caseFile + ": tensor 'input_ids' must be 2-D [batch, seq]");
            return new int[]{(int) sh[0], (int) sh[1]};
        }
    }

    static long[][] matrix(TensorView t) {
        if (t.shape().length != 2) {
            throw new CheckpointFormatException(t.file() + ": tensor '" + t.name() + "' must be 2-D [batch, seq], got " + Arrays.toString(t.shape()));
        }
        int rows = (int) t.shape()[0], cols = (int) t.shape()[1];
        long[][] m = new long[rows][cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) m[i][j] = t.getLong((long) i * cols + j);
        return m;
    }
}
