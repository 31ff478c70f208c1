package dev.tina.runtime.gpu;

import dev.tina.testsupport.Shared;

import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.OrtDecoder;
import dev.tina.runtime.ParityCheck;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.SamplingParams;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The TensorRT path on a real GPU: parity with the independent reference, and greedy sampling
 * equal to the CPU sampler's with adapters swapped in and out. Skipped, with the reason, where
 * there is no GPU, no TensorRT or no -Pgpu build: never faked.
 */
class TensorRtGpuTest {
    static final Path FIXTURE = Shared.path("fixtures/qwen2-small");
    @TempDir static Path tmp;
    static Path export;

    static String unavailable;

    @BeforeAll
    static void probe() throws Exception {
        try {
            TensorRtEngine.loadNatives();
        } catch (GpuUnavailableException e) {
            unavailable = e.getMessage();
            return;
        }
        export = tmp.resolve("export");
        DecoderExporter.export(FIXTURE.resolve("model"), export, DecoderExporter.Options.defaults());
    }

    /** Per test, so that each is reported as skipped with the reason. */
    @BeforeEach
    void needsTensorRt() {
        assumeTrue(unavailable == null, "TensorRT path not available here: " + unavailable);
    }

    @Test
    void fp32EngineMatchesTheReferenceLogits() throws Exception {
        PeftAdapter adapter = PeftAdapter.read(FIXTURE.resolve("adapter"), ModelConfig.read(FIXTURE.resolve("model/config.json")));
        int[] shape = ParityCheck.caseShape(FIXTURE.resolve("case.safetensors"));
        var s = new TensorRtSettings(shape[0], shape[0], shape[1], shape[1], shape[1] + 2, adapter.config().r(), TensorRtSettings.Precision.FP32);
        try (OrtDecoder cpu = OrtDecoder.open(export);
             TensorRtEngine engine = TensorRtEngine.open(export, s, TensorRtEngine.Variant.FULL_LOGITS, new EngineCache(tmp.resolve("engines")), System.out::println);
             TensorRtDecoder trt = TensorRtDecoder.over(engine)) {
            List<ParityCheck.Comparison> r = ParityCheck.run(cpu, (ids, mask, pos, a) -> trt.forwardFull(flat(ids), flat(mask), flat(pos), ids.length,
                    ids[0].length, a), adapter, FIXTURE.resolve("case.safetensors"), 5e-4);
            r.forEach(c -> System.out.println("tensorrt " + c.line()));
            assertTrue(r.size() == 2 && r.stream().allMatch(ParityCheck.Comparison::passed), r.toString());
        }
    }

    @Test
    void greedySamplingEqualsTheCpuSamplerAcrossAdapterSwaps() throws Exception {
        PeftAdapter adapter = PeftAdapter.read(FIXTURE.resolve("adapter"), ModelConfig.read(FIXTURE.resolve("model/config.json")));
        var s = new TensorRtSettings(8, 4, 16, 8, 64, 8, TensorRtSettings.Precision.FP32);
        List<long[]> prompts = List.of(new long[]{1, 2, 3, 4}, new long[]{5, 6}, new long[]{7, 8, 9});
        SamplingParams greedy = SamplingParams.greedy(12);
        try (OrtDecoder cpu = OrtDecoder.open(export);
             AdapterBinding none = AdapterBinding.none(cpu.environment(), cpu.descriptor());
             AdapterBinding lora = AdapterBinding.of(cpu.environment(), cpu.descriptor(), adapter);
             BatchSampler cpuSampler = new BatchSampler(cpu, null, 8);
             TensorRtDecoder trt = TensorRtDecoder.open(export, s, new EngineCache(tmp.resolve("engines")), System.out::println);
             BatchSampler trtSampler = new BatchSampler(trt, null, 8)) {
            for (AdapterBinding b : List.of(lora, none, lora)) {
                List<Completion> want = cpuSampler.generate(prompts, greedy, b), got = trtSampler.generate(prompts, greedy, b);
                for (int i = 0; i < want.size(); i++) assertArrayEquals(want.get(i).tokenIds(), got.get(i).tokenIds(), "prompt " + i);
            }
            assertEquals(3, trt.adapterUploads()); // each swap a rebind of uploaded buffers, one engine throughout
            long[] c = trt.copiedBytes();
            System.out.printf("tensorrt copies: %d B up, %d B down, %d B device-to-device%n", c[0], c[1], c[2]);
        }
    }

    static long[] flat(long[][] m) {
        long[] out = new long[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) System.arraycopy(m[i], 0, out, i * m[0].length, m[0].length);
        return out;
    }
}
