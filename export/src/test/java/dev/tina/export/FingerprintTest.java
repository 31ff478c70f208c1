package dev.tina.export;

import dev.tina.export.checkpoint.DType;
import dev.tina.export.init.RandomCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** The export cache's key must tell apart checkpoints of one shape (a model before and after training). */
class FingerprintTest {
    @Test
    void sameShapeDifferentWeightsDifferSameBytesAgree(@TempDir Path tmp) throws Exception {
        Path cfg = tmp.resolve("c.json");
        Files.writeString(cfg, """
                {"architectures": ["Qwen2ForCausalLM"], "vocab_size": 64, "hidden_size": 16, "intermediate_size": 32,
                 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-6,
                 "tie_word_embeddings": true, "max_position_embeddings": 64}""");
        RandomCheckpoint.write(cfg, tmp.resolve("a"), DType.F32, 1, 1, false);
        RandomCheckpoint.write(cfg, tmp.resolve("b"), DType.F32, 1, 2, false);
        RandomCheckpoint.write(cfg, tmp.resolve("a2"), DType.F32, 1, 1, false);
        assertNotEquals(DecoderExporter.fingerprint(tmp.resolve("a")), DecoderExporter.fingerprint(tmp.resolve("b")));
        assertEquals(DecoderExporter.fingerprint(tmp.resolve("a")), DecoderExporter.fingerprint(tmp.resolve("a2")));
    }
}
