package dev.tina.tools;

import dev.tina.export.DecoderExporter;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.ExportCache;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.OrtDecoder;
import dev.tina.runtime.ParityCheck;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.gpu.EngineCache;
import dev.tina.runtime.gpu.TensorRtDecoder;
import dev.tina.runtime.gpu.TensorRtEngine;
import dev.tina.runtime.gpu.TensorRtSettings;
import dev.tina.training.layered.Recompute;
import dev.tina.training.parity.GrpoParity;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "parity", mixinStandardHelpOptions = true,
        description = "Run the exported decoder on a reference case and compare logits at real (mask = 1) positions.")
final class ParityCommand implements Callable<Integer> {
    @Mixin ModelOption model;

    @Option(names = "--adapter", description = "PEFT adapter folder; compares 'logits_lora' too")
    Path adapter;

    @Option(names = "--case", required = true, description = "case safetensors: input_ids, attention_mask, position_ids, logits[, logits_lora]")
    Path caseFile;

    @Option(names = "--tolerance", defaultValue = "1e-4", description = "max absolute error allowed; default ${DEFAULT-VALUE}")
    double tolerance;

    @Option(names = "--dtype", defaultValue = "fp32", description = "weight storage of the export; default ${DEFAULT-VALUE}")
    String dtype;

    @Option(names = "--grpo", description = "also build the LoRA training graph and compare per-token log-probs, GRPO loss and every LoRA gradient (needs --adapter)")
    boolean grpo;

    @Option(names = "--case-json", description = "the case's settings (temperature, beta, epsilon); default: CASE with .json for .safetensors")
    Path caseJson;

    @Mixin DeviceOption device; // tensorrt: an FP32 engine sized to the case, built once and cached

    @Option(names = "--recompute", defaultValue = "auto", description = "the gradient pass for --grpo: layer (layer by layer, recomputing in the backward pass), "
            + "none (one graph keeping every activation) or auto (none when its estimated memory fits half the physical memory); default ${DEFAULT-VALUE}")
    String recompute;

    @Override
    public Integer call() throws Exception {
        SessionSettings.Device onDevice = device.get();
        Path exported = ExportCache.resolve(model.path(), new DecoderExporter.Options(DType.fromCli(dtype), List.of(Projection.values()), false));
        PeftAdapter peft = null;
        if (adapter != null) {
            Path configDir = ExportCache.isExport(model.path()) ? exported : model.path();
            peft = PeftAdapter.read(adapter, ModelConfig.read(configDir.resolve("config.json")));
        }
        System.out.println("model: " + exported);
        boolean ok;
        System.out.println("device: " + onDevice.cli());
        try (OrtDecoder d = OrtDecoder.open(exported, SessionSettings.of(onDevice == SessionSettings.Device.TENSORRT ? SessionSettings.Device.CPU : onDevice),
                OrtDecoder.Precision.FULL)) {
            List<ParityCheck.Comparison> results;
            if (onDevice == SessionSettings.Device.TENSORRT) {
                int[] shape = ParityCheck.caseShape(caseFile);
                // parity wants float32 products (TF32 off) and an engine just big enough for the case
                var s = new TensorRtSettings(shape[0], shape[0], shape[1], shape[1], shape[1] + 2,
                        Math.max(1, peft == null ? 1 : peft.config().r()), TensorRtSettings.Precision.FP32);
                try (TensorRtEngine engine = TensorRtEngine.open(exported, s, TensorRtEngine.Variant.FULL_LOGITS, EngineCache.defaultCache(),
                        System.err::println);
                     TensorRtDecoder trt = TensorRtDecoder.over(engine)) {
                    results = ParityCheck.run(d, (ids, mask, pos, a) -> trt.forwardFull(flat(ids), flat(mask), flat(pos), ids.length,
                            ids[0].length, a), peft, caseFile, tolerance);
                }
            } else {
                results = ParityCheck.run(d, peft, caseFile, tolerance);
            }
            results.forEach(r -> System.out.println(r.line()));
            ok = results.stream().allMatch(ParityCheck.Comparison::passed);
        }
        var q = ModelDescriptor.read(exported).quantization();
        if (q != null && onDevice != SessionSettings.Device.TENSORRT) {
            // the quantized graphs are not held to float32 tolerances: their error is reported
            System.out.printf("quantized graphs (%s): error against the reference%n", q.describe());
            try (OrtDecoder d = OrtDecoder.open(exported, SessionSettings.of(onDevice), OrtDecoder.Precision.AS_EXPORTED)) {
                List<ParityCheck.Comparison> results = ParityCheck.run(d, peft, caseFile, null);
                results.forEach(r -> System.out.println(r.line()));
                ok &= results.stream().allMatch(ParityCheck.Comparison::passed);
            }
        }
        if (grpo) {
            if (peft == null) throw new IllegalArgumentException("--grpo needs --adapter (the gradients are those of the adapter's factors)");
            Path settings = caseJson != null ? caseJson
                    : caseFile.resolveSibling(caseFile.getFileName().toString().replaceFirst("\\.safetensors$", "") + ".json");
            Recompute.Decision pass = GrpoParity.pass(ModelConfig.read(exported.resolve("config.json")), GrpoParity.readCase(caseFile, settings),
                    onDevice, Recompute.parse(recompute));
            List<GrpoParity.Comparison> results = GrpoParity.run(exported, peft, caseFile, settings, onDevice, pass.mode());
            System.out.println("gradient pass: --recompute " + pass + "; the loss is compared against the sum of its terms' sizes, Σ w·(|A|·ratio + β·kl), since the signed sum can nearly cancel");
            results.forEach(r -> System.out.println(r.line()));
            ok &= results.stream().allMatch(GrpoParity.Comparison::passed);
        }
        return ok ? 0 : 1;
    }

    private static long[] flat(long[][] m) {
        long[] out = new long[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) System.arraycopy(m[i], 0, out, i * m[0].length, m[0].length);
        return out;
    }
}
