package dev.tina.training.gpu;

import dev.tina.testsupport.Shared;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.OrtDecoder;
import dev.tina.runtime.ParityCheck;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.gpu.GpuProbe;
import dev.tina.runtime.gpu.NativeLibraries;
import dev.tina.training.ort.TrainingNatives;
import dev.tina.training.layered.Recompute;
import dev.tina.training.parity.GrpoParity;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * ONNX Runtime's CUDA execution provider, inference and the LoRA gradient graph, against the
 * independent reference. Skipped with the reason where there is no GPU, no CUDA 13/cuDNN 9, or
 * the natives are the default CPU-only build: never faked.
 */
class CudaGpuTest {
    static final Path FIXTURE = Shared.path("fixtures/qwen2-small");
    @TempDir static Path tmp;
    static Path export;
    static PeftAdapter adapter;

    static String unavailable;

    @BeforeAll
    static void probe() throws Exception {
        TrainingNatives.install();
        var missing = NativeLibraries.missing(NativeLibraries.CUDA_EP);
        if (GpuProbe.gpu().isEmpty()) unavailable = GpuProbe.whyNot();
        else if (!missing.isEmpty()) unavailable = NativeLibraries.describeMissing("CUDA", missing);
        else if (!OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
            unavailable = "the ONNX Runtime natives have no CUDA provider (natives: " + TrainingNatives.variant() + "); build with -Pgpu";
        }
        if (unavailable != null) return;
        export = tmp.resolve("export");
        DecoderExporter.export(FIXTURE.resolve("model"), export, DecoderExporter.Options.defaults());
        adapter = PeftAdapter.read(FIXTURE.resolve("adapter"), ModelConfig.read(FIXTURE.resolve("model/config.json")));
    }

    /** Per test, so that each is reported as skipped with the reason. */
    @BeforeEach
    void needsCuda() {
        assumeTrue(unavailable == null, "CUDA path not available here: " + unavailable);
    }

    @Test
    void inferenceMatchesTheReference() throws Exception {
        try (OrtDecoder d = OrtDecoder.open(export, SessionSettings.of(SessionSettings.Device.CUDA))) {
            List<ParityCheck.Comparison> r = ParityCheck.run(d, adapter, FIXTURE.resolve("case.safetensors"), 1e-4);
            r.forEach(c -> System.out.println("cuda " + c.line()));
            assertTrue(r.stream().allMatch(ParityCheck.Comparison::passed), r.toString());
        }
    }

    @Test
    void grpoGradientsMatchTheReference() throws Exception {
        List<GrpoParity.Comparison> r = GrpoParity.run(export, adapter, FIXTURE.resolve("case.safetensors"), FIXTURE.resolve("case.json"),
                SessionSettings.Device.CUDA, Recompute.NONE);
        r.forEach(c -> System.out.println("cuda " + c.line()));
        assertTrue(r.stream().allMatch(GrpoParity.Comparison::passed), r.toString());
    }
}
