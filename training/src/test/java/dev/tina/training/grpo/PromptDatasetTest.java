package dev.tina.training.grpo;

import dev.tina.testsupport.Shared;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PromptDatasetTest {
    static final Path LIMR = Shared.path("data/limr");

    @Test
    void theArrowFileAndItsJsonlRenderingGiveTheSameRows() throws Exception {
        PromptDataset arrow = PromptDataset.read(LIMR.resolve("data-00000-of-00001.arrow"), "context", "answer", 1);
        PromptDataset jsonl = PromptDataset.read(LIMR.resolve("limr_train.derived.jsonl"), "context", "answer", 1);
        assertEquals(1389, arrow.size());
        assertEquals(jsonl.size(), arrow.size());
        for (long c = 0; c < 3000; c += 97) {
            assertEquals(jsonl.at(c).problem(), arrow.at(c).problem(), "cursor " + c);
            assertEquals(jsonl.at(c).answer(), arrow.at(c).answer(), "cursor " + c);
        }
        var e = assertThrows(dev.tina.export.checkpoint.CheckpointFormatException.class,
                () -> PromptDataset.read(LIMR.resolve("data-00000-of-00001.arrow"), "problem", "answer", 1));
        assertTrue(e.getMessage().contains("'problem'") && e.getMessage().contains("context"), e.getMessage());
    }
}
