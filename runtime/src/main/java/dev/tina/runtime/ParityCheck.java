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
    public record Comparison(String name, double maxAbsError, long positions, double tolerance) {
        public boolean passed() { return maxAbsError <= tolerance; }

        public String line() {
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

    public static List<Comparison> run(OrtDecoder decoder, PeftAdapter adapter, Path caseFile, double tolerance) throws Exception {
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
    public static List<Comparison> run(OrtDecoder decoder, Forward forward, PeftAdapter adapter, Path caseFile, double tolerance) throws Exception {
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
                                      AdapterBinding adapter, TensorView expected, double tol) throws Exception {
        int b = ids.length, s = ids[0].length;
        long[] want = {b, s, v};
        if (!Arrays.equals(expected.shape(), want)) {
            throw new CheckpointFormatException(expected.file() + ": tensor '" + expected.name() + "' has shape "
                    + Arrays.toString(expected.shape()) + ", expected " + Arrays.toString(want));
        }
        float[] logits = forward.logits(ids, mask, pos, adapter);
        double max = 0;
        long count = 0;
        for (int i = 0; i < b; i++) {
            for (int t = 0; t < s; t++) {
                if (mask[i][t] == 0) continue;
                count++;
                long base = ((long) i * s + t) * v;
                for (int k = 0; k < v; k++) {
                    double err = Math.abs(logits[(int) (base + k)] - expected.getDouble(base + k));
                    if (!(err <= max)) max = err; // NaN propagates as a failure
                }
            }
        }
        return new Comparison(name, max, count, tol);
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
