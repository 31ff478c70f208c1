package dev.tina.export.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * RoPE inverse frequencies for the {@code rope_scaling} kinds the exporter implements: none
 * ("default"), "linear" and "llama3" (transformers' {@code _compute_llama3_parameters}). The
 * others (dynamic, yarn, longrope, mrope, ...) change attention beyond a constant table and are
 * refused.
 */
public final class RopeFrequencies {
    public static final String SUPPORTED = "default, linear, llama3";

    private RopeFrequencies() {}

    static String kind(JsonNode scaling) {
        if (scaling == null || scaling.isNull()) return "default";
        JsonNode t = scaling.has("rope_type") ? scaling.get("rope_type") : scaling.get("type");
        return t == null ? "default" : t.asText();
    }

    static void validate(JsonNode scaling) {
        String kind = kind(scaling);
        switch (kind) {
            case "default" -> { }
            case "linear", "llama3" -> {
                if (!scaling.has("factor")) throw new CheckpointFormatException("rope_scaling '" + kind + "' lacks 'factor'");
            }
            default -> throw new CheckpointFormatException("rope_scaling type '" + kind
                    + "' is not implemented, supported: " + SUPPORTED);
        }
    }

    /** inv_freq[i] = theta^(-2i/d), adjusted for the scaling kind; length headDim/2. */
    public static double[] inverseFrequencies(ModelConfig c) {
        int half = c.headDim() / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) inv[i] = 1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / c.headDim());
        JsonNode s = c.ropeScaling();
        switch (kind(s)) {
            case "linear" -> {
                double factor = s.get("factor").asDouble();
                for (int i = 0; i < half; i++) inv[i] /= factor;
            }
            case "llama3" -> {
                double factor = s.get("factor").asDouble();
                double low = s.path("low_freq_factor").asDouble(1.0);
                double high = s.path("high_freq_factor").asDouble(4.0);
                double oldCtx = s.path("original_max_position_embeddings").asDouble(8192);
                double lowWavelen = oldCtx / low, highWavelen = oldCtx / high;
                for (int i = 0; i < half; i++) {
                    double wavelen = 2 * Math.PI / inv[i];
                    if (wavelen > lowWavelen) {
                        inv[i] = inv[i] / factor;
                    } else if (wavelen >= highWavelen) {
                        double smooth = (oldCtx / wavelen - low) / (high - low);
                        inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
                    }
                }
            }
            default -> { }
        }
        return inv;
    }

    /** Positions per row of the low RoPE table; the high table steps by this many positions. */
    public static final int TABLE_BLOCK = 256;

    /**
     * cos and sin of the RoPE angles (start + i·stride)·inv_freq[j], computed in double precision
     * and rounded to float: two arrays of [count, headDim/2], row-major. Graphs gather these by
     * position instead of computing position × inv_freq in float32, whose angle error grows as
     * position × 6e-8 rad (3.5e-3 logit drift at 640 tokens with strong adapters, issue 13).
     */
    public static float[][] cosSinTable(ModelConfig c, long start, long stride, int count) {
        double[] inv = inverseFrequencies(c);
        int half = inv.length;
        float[] cos = new float[count * half], sin = new float[count * half];
        for (int i = 0; i < count; i++) {
            double p = start + (double) i * stride;
            for (int j = 0; j < half; j++) {
                double a = p * inv[j];
                cos[i * half + j] = (float) Math.cos(a);
                sin[i * half + j] = (float) Math.sin(a);
            }
        }
        return new float[][]{cos, sin};
    }

    /** Positions the tables cover: max_position_embeddings (at least 4,096; 1,048,576 when the config has none), rounded up to a block. */
    public static long tablePositions(ModelConfig c) {
        long max = c.maxPositionEmbeddings() == null ? 1L << 20 : Math.max(4096, c.maxPositionEmbeddings());
        return (max + TABLE_BLOCK - 1) / TABLE_BLOCK * TABLE_BLOCK;
    }
}
