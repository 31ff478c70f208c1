package dev.tina.tools;

import dev.tina.export.DecoderExporter;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.quant.BlockQuantizer;
import dev.tina.export.quant.QuantizedWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
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

    @Option(names = "--quantize", paramLabel = "SCHEME", description = "also write inference graphs whose base projections are int8 or int4 "
            + "(ONNX Runtime's MatMulNBits, block-wise scales) or w8a8 (int8 weights per output channel, int8 activations per token, integer GEMM); "
            + "generate, eval, serve and bench use them, training and parity's reference stay full precision (docs/quantization.md)")
    String quantize;

    @Option(names = "--block-size", description = "--quantize int8|int4: weights per scale along the input features (16, 32, 64, 128 or 256; w8a8 has one "
            + "scale per output channel); default: int4 128 where every projection's in-features are a multiple of it (else 64, 32, 16), int8 32")
    Integer blockSize;

    @Option(names = "--quantize-head", description = "--quantize: the LM head too (at Qwen's 151,936 × 1,536, 13% of the fp32 bytes)")
    boolean quantizeHead;

    @Option(names = "--accuracy-level", defaultValue = "4", description = "--quantize: MatMulNBits' accuracy_level; 4 = int8 activations on the CPU (fastest), 0 = float; default ${DEFAULT-VALUE}")
    int accuracyLevel;

    /** Every projection's in-features (the head's are the hidden size, q's too). */
    static Set<Integer> inFeatures(ModelConfig c) {
        Set<Integer> k = new TreeSet<>();
        for (Projection p : Projection.values()) k.add(p.inFeatures(c));
        return k;
    }

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        DType storage = DType.fromCli(dtype);
        QuantizedWeights.Settings q = null;
        if (quantize != null) {
            BlockQuantizer.Scheme scheme = BlockQuantizer.Scheme.parse(quantize);
            int block = blockSize != null ? blockSize : BlockQuantizer.defaultBlockSize(scheme, inFeatures(ModelConfig.read(model.resolve("config.json"))));
            q = new QuantizedWeights.Settings(scheme, block, quantizeHead, accuracyLevel);
        } else if (quantizeHead) {
            throw new IllegalArgumentException("--quantize-head needs --quantize int8|int4|w8a8");
        }
        long total = ModelConfig.read(model.resolve("config.json")).parameterCount() * storage.byteSize();
        ModelDescriptor d;
        try (Progress bar = new Progress("export", total)) {
            d = DecoderExporter.export(model, out, new DecoderExporter.Options(storage, Projection.parseList(loraTargets), overwrite, q), bar);
        }
        System.out.printf("exported %s (%d layers, vocab %d, weights %s, LoRA targets %s) to %s in %.1f s%n",
                d.architecture(), d.numLayers(), d.vocabSize(), d.weightsDtype(), d.loraTargets(), out, (System.nanoTime() - t0) / 1e9);
        if (d.quantized()) {
            var dq = d.quantization();
            System.out.printf("quantized graphs: %s%s: %s, %s, %s over %s (%.1f MB)%n", dq.describe(),
                    dq.blockWise() ? ", accuracy level " + dq.accuracyLevel() : "", dq.samplingFile(), dq.fullLogitsFile(), dq.inPlaceFile(),
                    dq.dataFile(), dq.quantizedBytes() / 1e6);
        }
        return 0;
    }
}
