package dev.tina.export.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The RoPE tables the graphs gather from: cos/sin of p·f recombined from a high table (steps of
 * 256 positions) and a low one with float32 arithmetic, exactly as the graph does, stay at float
 * rounding at every position, where the former float32 angle p × inv_freq loses ~p × 6e-8 rad
 * (issue 13: the LoRA logit drift growing with length).
 */
class RopeTablesTest {
    @Test
    void tablesStayAtFloatRoundingWhereFloat32AnglesDrift() throws Exception {
        ModelConfig c = new ObjectMapper().readValue("""
                {"architectures": ["Qwen2ForCausalLM"], "vocab_size": 64, "hidden_size": 128, "intermediate_size": 32,
                 "num_hidden_layers": 1, "num_attention_heads": 1, "num_key_value_heads": 1, "rms_norm_eps": 1e-6,
                 "rope_theta": 10000, "max_position_embeddings": 131072}""", ModelConfig.class);
        double[] inv = RopeFrequencies.inverseFrequencies(c);
        int half = inv.length, block = RopeFrequencies.TABLE_BLOCK;
        int rows = (int) (RopeFrequencies.tablePositions(c) / block);
        float[][] low = RopeFrequencies.cosSinTable(c, 0, 1, block), high = RopeFrequencies.cosSinTable(c, 0, block, rows);
        for (int p : new int[]{12, 320, 640, 3584, 131071}) {
            double table = 0, fp32 = 0;
            for (int j = 0; j < half; j++) {
                int h = p / block, l = p % block;
                float ch = high[0][h * half + j], sh = high[1][h * half + j], cl = low[0][l * half + j], sl = low[1][l * half + j];
                float cos = ch * cl - sh * sl, sin = sh * cl + ch * sl;
                double a = p * inv[j];
                table = Math.max(table, Math.max(Math.abs(cos - Math.cos(a)), Math.abs(sin - Math.sin(a))));
                float angle = (float) p * (float) inv[j]; // the former graph: Cast(position) × inv_freq in float32
                fp32 = Math.max(fp32, Math.max(Math.abs(Math.cos(angle) - Math.cos(a)), Math.abs(Math.sin(angle) - Math.sin(a))));
            }
            assertTrue(table < 3e-7, "position " + p + ": table error " + table);
            if (p >= 320) assertTrue(fp32 > 10 * table && fp32 > p * 1e-8, "position " + p + ": fp32 error " + fp32 + " vs table " + table);
        }
    }
}
