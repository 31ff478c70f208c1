package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tina.training.grpo.GrpoRecipe;
import dev.tina.training.tiny.TinyDemo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * The README's first command: the Tina pipeline in miniature on the embedded tiny model (made by
 * {@code tina pretrain-tiny}): held-out accuracy, GRPO on a LoRA adapter, held-out accuracy
 * again, a report. With several ranks it is the rank ablation; with several seeds, the spread.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Evaluate the embedded tiny reasoning model, train a LoRA adapter on it with GRPO, evaluate again, write a report.")
final class DemoCommand implements Callable<Integer> {
    static final String MODEL_RESOURCE = "/onnx-models/tiny-reasoner/";
    static final List<String> MODEL_FILES = List.of("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json", "README.md");
    static final String RECIPE_RESOURCE = "/onnx-models/recipes/demo-tiny-arith.yaml";

    @Option(names = "--out", defaultValue = "out/demo", description = "work and report folder; default ${DEFAULT-VALUE}")
    Path out;
    @Option(names = "--model", description = "a model folder to use instead of the embedded one (same task and tokenizer)")
    Path model;
    @Option(names = "--recipe", description = "GRPO recipe (YAML/JSON) instead of the embedded demo recipe")
    Path recipe;
    @Option(names = "--steps", description = "GRPO steps per run; default: the recipe's max_steps")
    Integer steps;
    @Option(names = "--seeds", split = ",", defaultValue = "1,2,3", description = "GRPO seeds, one run each; default ${DEFAULT-VALUE}")
    List<Long> seeds;
    @Option(names = "--ranks", split = ",", description = "LoRA ranks (alpha = 4 × rank), one run per rank and seed; default: the recipe's lora_r. "
            + "--ranks 4,8,16,32,64 is the rank ablation")
    List<Integer> ranks;
    @Option(names = "--eval-problems", defaultValue = "512", description = "held-out problems; default ${DEFAULT-VALUE}")
    int evalProblems;
    @Option(names = "--resume", description = "keep finished GRPO runs in DIR and continue an interrupted one from its last checkpoint "
            + "(the evaluations are redone: they take seconds)")
    boolean resume;
    @Mixin DeviceOption device; // sampling on any; training on cpu or cuda
    @Option(names = "--eval-samples", defaultValue = "2", description = "samples per held-out problem; default ${DEFAULT-VALUE}")
    int evalSamples;

    @Override
    public Integer call() throws Exception {
        Files.createDirectories(out);
        Path modelDir = model != null ? model : extractEmbeddedModel(out.resolve("model"));
        GrpoRecipe r = recipe != null ? GrpoRecipe.read(recipe) : GrpoRecipe.parse(resource(RECIPE_RESOURCE), RECIPE_RESOURCE);
        var s = new TinyDemo.Settings(modelDir, r, ranks != null ? ranks : List.of(r.rank()), seeds, steps != null ? steps : r.steps(),
                evalProblems, evalSamples, 2026, device.get(), resume);
        System.out.printf(Locale.ROOT, "tina demo: %s; %d held-out problems × %d samples; GRPO %d steps × %d completions, rank%s %s, seed%s %s%n",
                modelDir, evalProblems, evalSamples, s.steps(), r.microBatch() * r.accumulation(), s.ranks().size() > 1 ? "s" : "",
                s.ranks(), s.seeds().size() > 1 ? "s" : "", s.seeds());
        JsonNode rep;
        try (Progress bar = Progress.count("demo", s.work(), "units")) {
            rep = TinyDemo.run(s, out, new TinyDemo.Listener() {
                public void phase(String text) { bar.phase(text); }

                public void advance(long units) { bar.accept(units); }
            });
        }
        System.out.printf(Locale.ROOT, "held-out accuracy %.3f → %.3f%s; format %.3f → %.3f; %.0f s%n", rep.get("accuracy_before").asDouble(),
                rep.get("accuracy_after").asDouble(), s.seeds().size() > 1 ? String.format(Locale.ROOT, " (± %.3f over %d seeds)",
                        rep.get("accuracy_after_std").asDouble(), s.seeds().size()) : "",
                rep.get("format_before").asDouble(), rep.get("format_after").asDouble(), rep.get("wall_seconds").asDouble());
        System.out.println("report: " + out.resolve("report.md") + ", " + out.resolve("report.png") + ", " + out.resolve("report.json"));
        return 0;
    }

    /** Copies the embedded model out of the jar (every run: a few MB, and it must match this build). */
    static Path extractEmbeddedModel(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (String f : MODEL_FILES) {
            try (InputStream in = DemoCommand.class.getResourceAsStream(MODEL_RESOURCE + f)) {
                if (in == null) {
                    throw new IllegalArgumentException("the embedded model file " + MODEL_RESOURCE + f + " is not in this build "
                            + "(a slim distribution leaves it out, with the grader the demo needs): use the full distribution or a checkout");
                }
                dev.tina.export.AtomicFiles.write(dir.resolve(f), tmp -> Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING));
            }
        }
        return dir;
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = DemoCommand.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is missing from this build");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
