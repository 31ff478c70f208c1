package dev.tina.export;

import dev.tina.export.checkpoint.DType;
import dev.tina.export.init.RandomCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The export cache sees the tokenizer files, not only config.json and the weights (issue 13). */
class ExportCacheTest {
    private static Path model(Path tmp) throws Exception {
        Path cfg = tmp.resolve("c.json");
        Files.writeString(cfg, """
                {"architectures": ["Qwen2ForCausalLM"], "vocab_size": 64, "hidden_size": 16, "intermediate_size": 32,
                 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-6,
                 "tie_word_embeddings": true, "max_position_embeddings": 64}""");
        Path hf = tmp.resolve("hf");
        RandomCheckpoint.write(cfg, hf, DType.F32, 1, 1, false);
        return hf;
    }

    @Test
    void tokenizerAddedAfterAFirstExportIsExportedAgain(@TempDir Path tmp) throws Exception {
        Path hf = model(tmp), cache = tmp.resolve("cache");
        Files.deleteIfExists(hf.resolve("tokenizer.json"));
        Path first = ExportCache.resolve(hf, DecoderExporter.Options.defaults(), cache);
        assertFalse(Files.exists(first.resolve("tokenizer.json")));
        Files.writeString(hf.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\"}}");
        Path second = ExportCache.resolve(hf, DecoderExporter.Options.defaults(), cache);
        assertNotEquals(first, second);
        assertEquals(Files.readString(hf.resolve("tokenizer.json")), Files.readString(second.resolve("tokenizer.json")));
        assertEquals(second, ExportCache.resolve(hf, DecoderExporter.Options.defaults(), cache), "unchanged files reuse the export");
    }

    @Test
    void fixedChatTemplateReplacesTheStaleCopy(@TempDir Path tmp) throws Exception {
        Path hf = model(tmp), cache = tmp.resolve("cache");
        Files.writeString(hf.resolve("tokenizer_config.json"), "{\"chat_template\": \"{{ messages[0]['content'] }}\"}");
        Path first = ExportCache.resolve(hf, DecoderExporter.Options.defaults(), cache);
        String fixed = "{\"chat_template\": \"{{ messages[0]['content'] }}<think>\\n\"}";
        Files.writeString(hf.resolve("tokenizer_config.json"), fixed);
        Files.writeString(hf.resolve("generation_config.json"), "{\"temperature\": 0.6}");
        Path second = ExportCache.resolve(hf, DecoderExporter.Options.defaults(), cache);
        assertNotEquals(first, second);
        assertEquals(fixed, Files.readString(second.resolve("tokenizer_config.json")));
        assertTrue(Files.isRegularFile(second.resolve("generation_config.json")));
        assertTrue(Files.isRegularFile(second.resolve(DecoderExporter.IN_PLACE_FILE)));
        assertTrue(Files.isRegularFile(second.resolve(DecoderExporter.FULL_LOGITS_FILE)));
    }
}
