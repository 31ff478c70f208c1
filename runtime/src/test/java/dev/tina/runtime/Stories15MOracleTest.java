package dev.tina.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.DType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** Real pretrained weights: greedy output must equal llama2.c's own, id for id. */
class Stories15MOracleTest {
    static final Path MODEL = ParityFixtureTest.SHARED.resolve("models/stories15M");
    @TempDir static Path tmp;
    static Path export;

    @BeforeAll
    static void exportOnce() throws Exception {
        export = tmp.resolve("stories15M");
        // No LoRA inputs: also proves the exporter handles tied embeddings and a Llama without biases.
        DecoderExporter.export(MODEL, export, new DecoderExporter.Options(DType.F32, List.of(), false));
    }

    @Test
    void greedyIdsEqualLlama2c() throws Exception {
        JsonNode cases = new ObjectMapper().readTree(MODEL.resolve("expected.json").toFile()).get("cases");
        try (OrtDecoder d = OrtDecoder.open(export);
             AdapterBinding none = AdapterBinding.none(d.environment(), d.descriptor())) {
            for (JsonNode c : cases) {
                long[] prompt = longs(c.get("input_ids"));
                long[] want = longs(c.get("generated_ids"));
                long[] got = GreedyDecoder.generate(d, none, prompt, want.length, Set.of());
                assertArrayEquals(want, got, "case " + c.get("name").asText());
            }
        }
    }

    static long[] longs(JsonNode a) {
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asLong();
        return out;
    }
}
