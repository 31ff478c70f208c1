package dev.tina.training.parity;

import dev.tina.testsupport.Shared;

import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.training.ort.TrainingNatives;
import dev.tina.training.layered.Recompute;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

class GrpoParityTest {
    static { TrainingNatives.install(); }
    static final Path FIXTURE = Shared.path("fixtures/qwen2-small");

    @ParameterizedTest
    @EnumSource(Recompute.class)
    void lossLogpsAndEveryLoraGradientMatchTheReference(Recompute mode, @TempDir Path tmp) throws Exception {
        Path export = tmp.resolve("export");
        DecoderExporter.export(FIXTURE.resolve("model"), export, DecoderExporter.Options.defaults());
        PeftAdapter adapter = PeftAdapter.read(FIXTURE.resolve("adapter"), ModelConfig.read(FIXTURE.resolve("model/config.json")));
        List<GrpoParity.Comparison> r = GrpoParity.run(export, adapter, FIXTURE.resolve("case.safetensors"), FIXTURE.resolve("case.json"),
                dev.tina.runtime.SessionSettings.Device.CPU, mode);
        r.forEach(c -> System.out.println(c.line()));
        assertTrue(r.size() == 2 + 2 * 7 * 2, "comparisons: " + r.size());
        assertTrue(r.stream().allMatch(GrpoParity.Comparison::passed), "failures: " + r.stream().filter(c -> !c.passed()).toList());
    }
}
