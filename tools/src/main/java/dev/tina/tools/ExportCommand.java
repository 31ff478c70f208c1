package dev.tina.tools;

import dev.tina.export.DecoderExporter;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Export a Hugging Face Llama/Qwen2 checkpoint to an ONNX decoder with KV cache and LoRA inputs.")
final class ExportCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Hugging Face model folder (config.json + safetensors)")
    Path model;

    @Option(names = "--out", required = true, description = "output folder (written atomically)")
    Path out;

    @Option(names = "--dtype", defaultValue = "fp32", description = "weight storage: fp32, fp16 or bf16 (compute is fp32); default ${DEFAULT-VALUE}")
    String dtype;

    @Option(names = "--lora-targets", defaultValue = "all",
            description = "projections with LoRA inputs: comma list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj, 'all' or 'none'; default ${DEFAULT-VALUE}")
    String loraTargets;

    @Option(names = "--overwrite", description = "replace --out if it exists")
    boolean overwrite;

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        DType storage = DType.fromCli(dtype);
        long total = ModelConfig.read(model.resolve("config.json")).parameterCount() * storage.byteSize();
        ModelDescriptor d;
        try (Progress bar = new Progress("export", total)) {
            d = DecoderExporter.export(model, out, new DecoderExporter.Options(storage, Projection.parseList(loraTargets), overwrite), bar);
        }
        System.out.printf("exported %s (%d layers, vocab %d, weights %s, LoRA targets %s) to %s in %.1f s%n",
                d.architecture(), d.numLayers(), d.vocabSize(), d.weightsDtype(), d.loraTargets(), out, (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
