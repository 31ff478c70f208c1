package dev.tina.runtime.gpu;

import dev.tina.export.ModelDescriptor;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.peft.PeftAdapter;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The optimization profiles of a decoder engine: min/opt/max shapes of every input, for a prefill
 * profile (a whole prompt, batch up to max) and a decode profile (one token per row over a growing
 * cache). Pure Java, so it is tested without a GPU.
 *
 * <p>Two choices shape these ranges:
 * <ul>
 * <li>The cache is never empty: every sequence starts with one masked slot (attention mask 0,
 *     zeros in K and V), so {@code past_sequence_length} is at least 1 and no profile needs a
 *     zero-sized dimension. A masked slot adds nothing to attention (the mask is a {@code Where}
 *     before the softmax), so results equal the CPU path's.</li>
 * <li>LoRA factors are inputs of a fixed shape, [maxRank, in] and [out, maxRank]: adapters of a
 *     smaller rank are zero-padded ({@link LoraPadding}), so any adapter up to the maximum rank,
 *     and the base model (all zeros), runs on one engine, and swapping adapters rebinds buffers.</li>
 * </ul>
 */
public final class TensorRtProfiles {
    private TensorRtProfiles() {}

    /** min/opt/max of one input. */
    public record Range(long[] min, long[] opt, long[] max) {
        public Range {
            if (min.length != opt.length || opt.length != max.length) throw new IllegalArgumentException("min/opt/max ranks differ");
            for (int i = 0; i < min.length; i++) {
                if (!(min[i] <= opt[i] && opt[i] <= max[i])) {
                    throw new IllegalArgumentException("dimension " + i + ": need min <= opt <= max, got " + min[i] + ", " + opt[i] + ", " + max[i]);
                }
            }
        }

        static Range fixed(long... dims) { return new Range(dims, dims, dims); }

        @Override
        public String toString() { return Arrays.toString(min) + ".." + Arrays.toString(opt) + ".." + Arrays.toString(max); }
    }

    /** One optimization profile: a range per input, in the graph's input order. */
    public record Profile(String name, Map<String, Range> inputs) {
        public String describe() {
            StringBuilder b = new StringBuilder(name).append('{');
            inputs.forEach((k, v) -> b.append(k).append('=').append(v).append(';'));
            return b.append('}').toString();
        }
    }

    public static final String PREFILL = "prefill", DECODE = "decode";

    /** The prefill and decode profiles, in that order (profile index 0 and 1 of the engine). */
    public static List<Profile> compute(ModelDescriptor d, TensorRtSettings s) {
        return List.of(profile(PREFILL, d, s), profile(DECODE, d, s));
    }

    static Profile profile(String name, ModelDescriptor d, TensorRtSettings s) {
        boolean prefill = name.equals(PREFILL);
        long kv = d.numKeyValueHeads(), hd = d.headDim();
        // sequence (new tokens per row) and past (cache positions before them), as min/opt/max
        long[] seq = prefill ? new long[]{1, s.optPrompt(), s.maxPrompt()} : new long[]{1, 1, 1};
        long[] past = prefill ? new long[]{1, 1, 1} : new long[]{1, Math.max(1, s.maxContext() / 2), s.maxContext() - 1};
        long[] batch = {1, s.optBatch(), s.maxBatch()};
        Map<String, Range> in = new LinkedHashMap<>();
        in.put("input_ids", new Range(new long[]{batch[0], seq[0]}, new long[]{batch[1], seq[1]}, new long[]{batch[2], seq[2]}));
        in.put("attention_mask", new Range(new long[]{batch[0], past[0] + seq[0]}, new long[]{batch[1], past[1] + seq[1]},
                new long[]{batch[2], Math.min(s.maxContext(), past[2] + seq[2])}));
        in.put("position_ids", new Range(new long[]{batch[0], seq[0]}, new long[]{batch[1], seq[1]}, new long[]{batch[2], seq[2]}));
        for (int i = 0; i < d.numLayers(); i++) {
            Range cache = new Range(new long[]{batch[0], kv, past[0], hd}, new long[]{batch[1], kv, past[1], hd}, new long[]{batch[2], kv, past[2], hd});
            in.put(DecoderGraph.pastKey(i), cache);
            in.put(DecoderGraph.pastValue(i), cache);
        }
        if (!d.loraTargets().isEmpty()) {
            in.put(DecoderGraph.LORA_SCALE, Range.fixed(1));
            for (int i = 0; i < d.numLayers(); i++) {
                for (String t : d.loraTargets()) {
                    int[] dims = loraDims(d, t);
                    Projection p = Projection.fromModuleName(t);
                    in.put(PeftAdapter.tensorName(i, p, 'A'), Range.fixed(s.maxRank(), dims[0]));
                    in.put(PeftAdapter.tensorName(i, p, 'B'), Range.fixed(dims[1], s.maxRank()));
                }
            }
        }
        return new Profile(name, in);
    }

    static int[] loraDims(ModelDescriptor d, String target) {
        int[] dims = d.loraDims() == null ? null : d.loraDims().get(target);
        if (dims == null || dims.length != 2) {
            throw new IllegalArgumentException(ModelDescriptor.FILE + ": lora_dims has no [in, out] for LoRA target '" + target + "'");
        }
        return dims;
    }

    /** All profiles as one canonical line, for the engine cache key. */
    public static String describe(List<Profile> profiles) {
        StringBuilder b = new StringBuilder();
        for (Profile p : profiles) b.append(p.describe());
        return b.toString();
    }

    /**
     * Checks a run's shape against the engine's limits before anything reaches TensorRT, with the
     * setting to change when it does not fit.
     */
    public static void checkFits(TensorRtSettings s, int rows, int promptLength, int maxNewTokens) {
        if (rows > s.maxBatch()) {
            throw new IllegalArgumentException(rows + " rows exceed the TensorRT engine's max batch " + s.maxBatch()
                    + "; lower --batch-rows or set TINA_TRT_MAX_BATCH (a new engine is built once)");
        }
        if (promptLength > s.maxPrompt()) {
            throw new IllegalArgumentException("a prompt of " + promptLength + " tokens exceeds the TensorRT engine's max prompt "
                    + s.maxPrompt() + "; set TINA_TRT_MAX_PROMPT (a new engine is built once)");
        }
        long need = 1L + promptLength + maxNewTokens;
        if (need > s.maxContext()) {
            throw new IllegalArgumentException("prompt " + promptLength + " + " + maxNewTokens + " new tokens + 1 masked slot = " + need
                    + " positions exceed the TensorRT engine's max context " + s.maxContext() + "; set TINA_TRT_MAX_CONTEXT");
        }
    }
}
