package dev.tina.runtime.gpu;

import java.util.Locale;
import java.util.Map;

/**
 * How big a TensorRT engine is built: batch, prompt and context ranges for its optimization
 * profiles, the maximum LoRA rank its A/B inputs are padded to, and the precision TensorRT may use
 * inside (inputs and outputs stay float32 as exported). Each setting is part of the engine cache
 * key; changing one builds a new engine once.
 *
 * <p>{@code maxContext} counts KV-cache positions, including the one masked slot every sequence
 * starts with (see {@link TensorRtProfiles}): prompt + new tokens must fit in {@code maxContext - 1}.
 */
public record TensorRtSettings(int maxBatch, int optBatch, int maxPrompt, int optPrompt, int maxContext, int maxRank,
                               Precision precision) {

    /** What TensorRT may compute in; the engine's inputs and outputs are float32 either way. */
    public enum Precision {
        FP32, FP16, BF16;

        public static Precision parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "fp32", "float32" -> FP32;
                case "fp16", "float16", "half" -> FP16;
                case "bf16", "bfloat16" -> BF16;
                default -> throw new IllegalArgumentException("unknown TensorRT precision '" + s + "', expected fp32, fp16 or bf16");
            };
        }

        public String cli() { return name().toLowerCase(Locale.ROOT); }
    }

    public TensorRtSettings {
        if (maxBatch < 1) throw new IllegalArgumentException("TensorRT max batch must be >= 1, got " + maxBatch);
        if (optBatch < 1 || optBatch > maxBatch) throw new IllegalArgumentException("TensorRT opt batch must be in [1, " + maxBatch + "], got " + optBatch);
        if (maxPrompt < 1) throw new IllegalArgumentException("TensorRT max prompt length must be >= 1, got " + maxPrompt);
        if (optPrompt < 1 || optPrompt > maxPrompt) throw new IllegalArgumentException("TensorRT opt prompt length must be in [1, " + maxPrompt + "], got " + optPrompt);
        if (maxContext < maxPrompt + 2) {
            throw new IllegalArgumentException("TensorRT max context " + maxContext + " must be at least max prompt " + maxPrompt
                    + " + 2 (the masked first slot and one new token)");
        }
        if (maxRank < 1) throw new IllegalArgumentException("TensorRT max LoRA rank must be >= 1, got " + maxRank);
        if (precision == null) throw new IllegalArgumentException("TensorRT precision is required");
    }

    /** Defaults sized for rollouts and benchmarks: 64 rows, 1024-token prompts, 4096 positions, rank ≤ 64, FP16. */
    public static TensorRtSettings defaults() {
        return new TensorRtSettings(64, 16, 1024, 128, 4096, 64, Precision.FP16);
    }

    /**
     * The defaults overridden by environment variables {@code TINA_TRT_MAX_BATCH}, {@code TINA_TRT_OPT_BATCH},
     * {@code TINA_TRT_MAX_PROMPT}, {@code TINA_TRT_OPT_PROMPT}, {@code TINA_TRT_MAX_CONTEXT},
     * {@code TINA_TRT_MAX_RANK}, {@code TINA_TRT_PRECISION}.
     */
    public static TensorRtSettings fromEnvironment(Map<String, String> env) {
        TensorRtSettings d = defaults();
        int maxBatch = intVar(env, "TINA_TRT_MAX_BATCH", d.maxBatch);
        return new TensorRtSettings(maxBatch, intVar(env, "TINA_TRT_OPT_BATCH", Math.min(d.optBatch, maxBatch)),
                intVar(env, "TINA_TRT_MAX_PROMPT", d.maxPrompt), intVar(env, "TINA_TRT_OPT_PROMPT", d.optPrompt),
                intVar(env, "TINA_TRT_MAX_CONTEXT", d.maxContext), intVar(env, "TINA_TRT_MAX_RANK", d.maxRank),
                env.containsKey("TINA_TRT_PRECISION") ? Precision.parse(env.get("TINA_TRT_PRECISION")) : d.precision);
    }

    private static int intVar(Map<String, String> env, String name, int dflt) {
        String v = env.get(name);
        if (v == null || v.isBlank()) return dflt;
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("environment variable " + name + "='" + v + "' is not an integer");
        }
    }
}
