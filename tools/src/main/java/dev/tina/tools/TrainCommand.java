package dev.tina.tools;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.eval.tracking.Tracker;
import dev.tina.training.dist.Cluster;
import dev.tina.training.grpo.GrpoRecipe;
import dev.tina.training.grpo.GrpoTrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = "GRPO on a LoRA adapter from a recipe (TRL GRPOConfig / PEFT LoraConfig field names, JSON or YAML).")
final class TrainCommand implements Callable<Integer> {
    @Option(names = "--recipe", required = true, description = "recipe file (.json, .yaml) or a built-in name (tina recipes)") String recipe;
    @Option(names = "--out", defaultValue = "out/train", description = "run folder: metrics.jsonl, checkpoint-N/; default ${DEFAULT-VALUE}") Path out;
    @Option(names = "--resume", description = "continue from the last checkpoint in --out") boolean resume;
    @Option(names = "--model", description = "override model_name_or_path") String model;
    @Option(names = "--dataset", description = "override dataset_path") String dataset;
    @Option(names = "--max-steps", description = "override max_steps") Integer maxSteps;
    @Option(names = "--max-completion-length", description = "override max_completion_length") Integer maxCompletionLength;
    @Option(names = "--max-prompt-length", description = "override max_prompt_length") Integer maxPromptLength;
    @Option(names = "--device", description = "override device: cpu, cuda or tensorrt (sampling on TensorRT, training steps on CUDA); "
            + "GPU paths need a -Pgpu build (README, GPU)") String device;
    @Option(names = "--recompute", description = "override recompute: auto (the default: none when its estimated peak fits the memory budget, else layer), "
            + "layer (each decoder layer recomputed in the backward pass, memory grows by kilobytes per token) or none (one graph keeping every activation)") String recompute;
    @Option(names = "--quantized-rollouts", description = "override quantized_rollouts: sample on the export's int8/int4 graphs (tina export --quantize); "
            + "off-policy, the trainer stays full precision and logs sampler_trainer_logp_gap every step (docs/quantization.md)") boolean quantizedRollouts;
    @Option(names = "--memory-budget", paramLabel = "BUDGET", description = "override memory_budget, what --recompute auto lets the whole-model graph take: "
            + "a fraction of physical memory (default 0.5) or gigabytes (12GB)") String memoryBudget;
    @Mixin SparkOptions spark; // each step's rollouts and gradient passes as Spark tasks
    @Option(names = "--report-to", split = ",", paramLabel = "NAME", description = "override report_to: jsonl (metrics.jsonl and curves.png, the default), "
            + "tensorboard (event files in --out: tensorboard --logdir OUT), both comma-separated, or none (docs/tracking.md)") List<String> reportTo;
    @Option(names = "--rollout-slices", paramLabel = "N", description = "cut each step into N slices sampled apart (default: 1, or the cluster's parallelism with --spark); "
            + "runs cut alike log the same metrics bit for bit, here or on a cluster") Integer rolloutSlices;

    @Override
    public Integer call() throws Exception {
        GrpoRecipe r = java.nio.file.Files.isRegularFile(Path.of(recipe)) ? GrpoRecipe.read(Path.of(recipe)) : RecipesCommand.builtIn(recipe);
        ObjectNode overrides = new ObjectMapper().createObjectNode();
        if (model != null) overrides.put("model_name_or_path", model);
        if (dataset != null) overrides.put("dataset_path", dataset);
        if (maxSteps != null) overrides.put("max_steps", maxSteps);
        if (maxCompletionLength != null) overrides.put("max_completion_length", maxCompletionLength);
        if (maxPromptLength != null) overrides.put("max_prompt_length", maxPromptLength);
        if (device != null) overrides.put("device", device);
        if (recompute != null) overrides.put("recompute", recompute);
        if (memoryBudget != null) overrides.put("memory_budget", memoryBudget);
        if (quantizedRollouts) overrides.put("quantized_rollouts", true);
        if (reportTo != null) {
            Tracker.parse(reportTo, "--report-to"); // named as typed, before the recipe's own check
            reportTo.forEach(overrides.putArray("report_to")::add);
        }
        if (!overrides.isEmpty()) r = r.with(overrides);
        GrpoTrainer.Summary s;
        try (Progress bar = Progress.count("train", r.steps(), "step")) {
            GrpoTrainer trainer = new GrpoTrainer(r, out).log(System.err::println);
            try (Cluster cluster = spark.openOrNull()) {
                if (cluster != null) trainer.runner(cluster.steps());
                int slices = rolloutSlices != null ? rolloutSlices : cluster != null ? cluster.parallelism() : 1;
                trainer.rolloutSlices(slices);
                s = trainer.run(resume, m -> {
                    bar.accept(1);
                    System.out.println(m.toString());
                });
            }
        }
        System.err.printf("done: %d steps, %.1f s, %d tokens generated; last checkpoint %s%n", s.steps(), s.wallSeconds(),
                s.tokensGenerated(), s.lastCheckpoint());
        return 0;
    }
}
