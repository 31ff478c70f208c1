package dev.tina.tools;

import dev.tina.export.checkpoint.DType;
import dev.tina.export.init.RandomCheckpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "init-model", mixinStandardHelpOptions = true,
        description = "Write a Hugging Face checkpoint with random weights for a config.json (tests, benchmarks of real shapes).")
final class InitModelCommand implements Callable<Integer> {
    @Option(names = "--config", required = true, description = "config.json to instantiate (e.g. onnx-models/configs/deepseek-r1-distill-qwen-1.5b.json)")
    Path config;

    @Option(names = "--random", required = true, description = "random weights (uniform, std = initializer_range); the only initialisation so far")
    boolean random;

    @Option(names = "--out", required = true, description = "output folder (written atomically)")
    Path out;

    @Option(names = "--dtype", defaultValue = "fp32", description = "fp32, fp16 or bf16; default ${DEFAULT-VALUE}")
    String dtype;

    @Option(names = "--shards", defaultValue = "1", description = "number of safetensors shards; default ${DEFAULT-VALUE}")
    int shards;

    @Option(names = "--seed", defaultValue = "42", description = "random seed; default ${DEFAULT-VALUE}")
    long seed;

    @Option(names = "--overwrite", description = "replace --out if it exists")
    boolean overwrite;

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        RandomCheckpoint.write(config, out, DType.fromCli(dtype), shards, seed, overwrite);
        System.out.printf("wrote random checkpoint %s (%s, %d shard(s), seed %d) in %.1f s%n", out, dtype, shards, seed,
                (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
