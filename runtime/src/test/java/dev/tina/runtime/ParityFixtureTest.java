package dev.tina.runtime;

import dev.tina.testsupport.Shared;

import dev.tina.export.DecoderExporter;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.export.checkpoint.ModelConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

class ParityFixtureTest {
    static final Path SHARED = Shared.ROOT;
    static final Path FIXTURE = SHARED.resolve("fixtures/qwen2-small");

    @Test
    void qwen2SmallMatchesReferenceLogitsWithAndWithoutAdapter(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("export");
        DecoderExporter.export(FIXTURE.resolve("model"), out, DecoderExporter.Options.defaults());
        PeftAdapter adapter = PeftAdapter.read(FIXTURE.resolve("adapter"), ModelConfig.read(FIXTURE.resolve("model/config.json")));
        try (OrtDecoder d = OrtDecoder.open(out)) {
            List<ParityCheck.Comparison> r = ParityCheck.run(d, adapter, FIXTURE.resolve("case.safetensors"), 1e-4);
            r.forEach(c -> System.out.println(c.line()));
            assertTrue(r.size() == 2 && r.stream().allMatch(ParityCheck.Comparison::passed), r.toString());
        }
    }
}
