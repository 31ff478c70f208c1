package dev.tina.training.tiny;

import dev.tina.training.ort.TrainingNatives;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `tina pretrain-tiny`, shortened: it trains, writes a loadable HF folder, and a rerun gives the same bytes. */
class TinyPretrainerTest {
    static { TrainingNatives.install(); }

    @Test
    void aRerunWithTheSameSeedWritesTheSameWeights(@TempDir Path tmp) throws Exception {
        var s = new TinyPretrainer.Settings(7, 6, 16, 3e-3, 2);
        List<Double> losses = new ArrayList<>();
        var a = TinyPretrainer.run(tmp.resolve("a"), tmp.resolve("a.work"), s, 1, (step, loss, secs) -> losses.add(loss));
        var b = TinyPretrainer.run(tmp.resolve("b"), tmp.resolve("b.work"), s, 6, (step, loss, secs) -> { });
        assertEquals(6, losses.size());
        assertTrue(losses.get(5) < losses.get(0), "SFT loss falls: " + losses);
        assertEquals(822_016, a.parameters());
        assertArrayEquals(Files.readAllBytes(a.modelDir().resolve("model.safetensors")), Files.readAllBytes(b.modelDir().resolve("model.safetensors")),
                "same seed, same weights (the embedding gradient is a GEMM, not ORT's order-dependent GatherGrad)");
        for (String f : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")) {
            assertTrue(Files.isRegularFile(a.modelDir().resolve(f)), f);
        }
    }
}
