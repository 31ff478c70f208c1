package dev.tina.tools;

import dev.tina.export.merge.AdapterMerger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "merge", mixinStandardHelpOptions = true,
        description = "Fold a PEFT LoRA adapter into the base weights (W + scale·B·A) and write a Hugging Face checkpoint.")
final class MergeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "base Hugging Face model folder")
    Path model;

    @Option(names = "--adapter", required = true, description = "PEFT adapter folder (adapter_config.json + adapter_model.safetensors)")
    Path adapter;

    @Option(names = "--out", required = true, description = "output folder (written atomically)")
    Path out;

    @Option(names = "--overwrite", description = "replace --out if it exists")
    boolean overwrite;

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        AdapterMerger.merge(model, adapter, out, overwrite);
        System.out.printf("merged %s into %s: %s (%.1f s)%n", adapter, model, out, (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
