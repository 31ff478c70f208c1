package dev.tina.tools;

import dev.tina.export.DecoderExporter;
import dev.tina.export.ExportCache;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.OrtDecoder;
import dev.tina.runtime.ParityCheck;
import dev.tina.training.parity.GrpoParity;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "parity", mixinStandardHelpOptions = true,
        description = "Run the exported decoder on a reference case and compare logits at real (mask = 1) positions.")
final class ParityCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Hugging Face folder (exported into the cache on first use) or exported folder")
    Path model;

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

    @Override
    public Integer call() throws Exception {
        Path exported = ExportCache.resolve(model, new DecoderExporter.Options(DType.fromCli(dtype), List.of(Projection.values()), false));
        PeftAdapter peft = null;
        if (adapter != null) {
            Path configDir = ExportCache.isExport(model) ? exported : model;
            peft = PeftAdapter.read(adapter, ModelConfig.read(configDir.resolve("config.json")));
        }
        System.out.println("model: " + exported);
        boolean ok;
        try (OrtDecoder d = OrtDecoder.open(exported)) {
            List<ParityCheck.Comparison> results = ParityCheck.run(d, peft, caseFile, tolerance);
            results.forEach(r -> System.out.println(r.line()));
            ok = results.stream().allMatch(ParityCheck.Comparison::passed);
        }
        if (grpo) {
            if (peft == null) throw new IllegalArgumentException("--grpo needs --adapter (the gradients are those of the adapter's factors)");
            Path settings = caseJson != null ? caseJson
                    : caseFile.resolveSibling(caseFile.getFileName().toString().replaceFirst("\\.safetensors$", "") + ".json");
            List<GrpoParity.Comparison> results = GrpoParity.run(exported, peft, caseFile, settings);
            results.forEach(r -> System.out.println(r.line()));
            ok &= results.stream().allMatch(GrpoParity.Comparison::passed);
        }
        return ok ? 0 : 1;
    }
}
