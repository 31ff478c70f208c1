package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.AtomicOutputDirectory;
import dev.tina.training.dist.Cluster;
import dev.tina.training.grpo.GrpoRecipe;
import dev.tina.training.grpo.GrpoTrainer;
import dev.tina.training.tiny.TinyDemo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code tina bench spark}: the cost of running GRPO steps as Spark tasks, against the same steps in
 * one process in the same run. Three runs of the same recipe: one process with the step sampled in
 * one piece (today's default), one process cut into the cluster's slices (the same work the cluster
 * does, run one slice after another), and the cluster. Reports the median step time after the first
 * step (which opens sessions and, on the cluster, the executors' workers), their ratios, and the
 * cluster's overhead split into scheduling, serialisation and broadcast.
 */
@Command(name = "spark", mixinStandardHelpOptions = true,
        description = "Time GRPO steps under Spark against the same steps in one process (same run); the overhead split into scheduling, serialisation and broadcast.")
final class BenchSpark implements Callable<Integer> {
    @Option(names = "--recipe", defaultValue = "onnx-models/recipes/demo-tiny-arith.yaml", description = "recipe file or built-in name; default ${DEFAULT-VALUE}") String recipe;
    @Option(names = "--model", description = "override model_name_or_path (the demo recipe needs one: onnx-models/tiny-reasoner)") String model;
    @Option(names = "--spark", required = true, paramLabel = "MASTER", description = "e.g. local[2]") String spark;
    @Option(names = "--spark-conf", paramLabel = "KEY=VALUE", description = "a Spark setting; repeatable") Map<String, String> sparkConf = new LinkedHashMap<>();
    @Option(names = "--steps", defaultValue = "6", description = "steps per run, the first not counted; default ${DEFAULT-VALUE}") int steps;
    @Option(names = "--rounds", defaultValue = "1", description = "repeat the three runs this many times, interleaved, so that load from elsewhere falls on all three alike; default ${DEFAULT-VALUE}") int rounds;
    @Option(names = "--out", defaultValue = "out/bench-spark", description = "runs and report.json; default ${DEFAULT-VALUE}") Path out;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public Integer call() throws Exception {
        if (steps < 2) throw new IllegalArgumentException("--steps must be >= 2 (the first step is not counted)");
        if (rounds < 1) throw new IllegalArgumentException("--rounds must be >= 1");
        GrpoRecipe r = Files.isRegularFile(Path.of(recipe)) ? GrpoRecipe.read(Path.of(recipe)) : RecipesCommand.builtIn(recipe);
        Files.createDirectories(out);
        ObjectNode o = JSON.createObjectNode();
        o.put("max_steps", steps);
        o.put("save_steps", 1_000_000);
        if (model != null) o.put("model_name_or_path", model);
        if (r.datasetPath() == null) {
            Path data = out.resolve("prompts.jsonl");
            TinyDemo.writePrompts(data, steps * r.microBatch() * r.accumulation() / r.generations());
            o.put("dataset_path", data.toString());
        }
        GrpoRecipe recipe = r.with(o);
        ObjectNode report = JSON.createObjectNode();
        long t0 = System.nanoTime();
        try (Cluster cluster = Cluster.open(spark, sparkConf)) {
            // the context, and on a cluster the first executor JVM registered (Cluster.open waits for it)
            double contextStart = (System.nanoTime() - t0) / 1e9;
            int slices = cluster.parallelism();
            List<Double> firstSliced = new ArrayList<>(), firstSpark = new ArrayList<>();
            List<JsonNode> onePiece = new ArrayList<>(), sliced = new ArrayList<>(), spread = new ArrayList<>();
            for (int round = 0; round < rounds; round++) {
                onePiece.addAll(counted(run(recipe, "one-process-1-slice", null, 1)));
                List<JsonNode> x = run(recipe, "one-process-" + slices + "-slices", null, slices);
                firstSliced.add(x.getFirst().get("seconds_step").asDouble());
                sliced.addAll(counted(x));
                List<JsonNode> y = run(recipe, "spark-" + slices + "-slices", cluster, slices);
                firstSpark.add(y.getFirst().get("seconds_step").asDouble());
                spread.addAll(counted(y));
            }
            double a = median(onePiece, "seconds_step"), b = median(sliced, "seconds_step"), c = median(spread, "seconds_step");
            report.put("master", spark);
            report.put("recipe", this.recipe);
            report.put("steps_counted", (steps - 1) * rounds);
            report.put("rounds", rounds);
            report.put("slices", slices);
            report.put("median_step_seconds_one_process_1_slice", a);
            report.put("median_step_seconds_one_process_sliced", b);
            report.put("median_step_seconds_spark", c);
            report.put("ratio_spark_vs_one_process_sliced", c / b);
            report.put("ratio_spark_vs_one_process_1_slice", c / a);
            for (String f : List.of("seconds_spark_job", "seconds_spark_scheduling", "seconds_spark_serialisation", "seconds_spark_broadcast",
                    "seconds_sampling", "seconds_reference", "seconds_training")) {
                report.put("median_" + f + "_spark", median(spread, f));
            }
            for (String f : List.of("seconds_sampling", "seconds_reference", "seconds_training")) report.put("median_" + f + "_one_process_sliced", median(sliced, f));
            // Spark's own cost per step: everything but the tasks' work (queueing and launch, serialisation, the adapter's broadcast)
            double[] own = spread.stream().mapToDouble(m -> m.path("seconds_spark_scheduling").asDouble()
                    + m.path("seconds_spark_serialisation").asDouble() + m.path("seconds_spark_broadcast").asDouble()).sorted().toArray();
            report.put("median_seconds_spark_own_per_step", own.length % 2 == 1 ? own[own.length / 2] : (own[own.length / 2 - 1] + own[own.length / 2]) / 2);
            // executor start-up: the context with its first executor registered, then the first step's opening of the executors'
            // workers (model, sessions, grader) beyond what the same first step costs in one process
            report.put("seconds_spark_context_and_first_executor", contextStart);
            report.put("seconds_first_step_one_process_sliced", firstSliced.getFirst());
            report.put("seconds_first_step_spark", firstSpark.getFirst());
            report.put("seconds_executor_worker_start", Math.max(0, firstSpark.getFirst() - c - (firstSliced.getFirst() - b)));
            report.put("spark_broadcast_bytes", spread.getLast().path("spark_broadcast_bytes").asLong());
            report.put("spark_result_bytes", spread.getLast().path("spark_result_bytes").asLong());
            report.put("same_metrics_spark_vs_sliced", deterministic(sliced).equals(deterministic(spread)));
        }
        dev.tina.export.checkpoint.SafetensorsWriter.writeJsonAtomically(out.resolve("report.json"), report);
        System.out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(report));
        System.out.printf(Locale.ROOT, "step under %s: %.2f× the same slices in one process, %.2f× one process sampling the step in one piece%n",
                spark, report.get("ratio_spark_vs_one_process_sliced").asDouble(), report.get("ratio_spark_vs_one_process_1_slice").asDouble());
        return 0;
    }

    private List<JsonNode> run(GrpoRecipe recipe, String name, Cluster cluster, int slices) throws Exception {
        Path dir = out.resolve(name);
        if (Files.exists(dir)) AtomicOutputDirectory.deleteRecursively(dir);
        List<JsonNode> steps = new ArrayList<>();
        GrpoTrainer t = new GrpoTrainer(recipe, dir).rolloutSlices(slices);
        if (cluster != null) t.runner(cluster.steps());
        System.err.println("bench spark: " + name + " ...");
        t.run(false, steps::add);
        return steps;
    }

    private static List<JsonNode> deterministic(List<JsonNode> steps) {
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode s : steps) {
            ObjectNode n = s.deepCopy();
            n.properties().removeIf(e -> GrpoTrainer.isWallClock(e.getKey()) || e.getKey().startsWith("spark_"));
            out.add(n);
        }
        return out;
    }

    /** A run's steps after its first (which opens sessions and, on the cluster, the executors' workers). */
    private static List<JsonNode> counted(List<JsonNode> steps) {
        System.err.printf(Locale.ROOT, "  first step %.2f s%n", steps.getFirst().get("seconds_step").asDouble());
        return steps.subList(1, steps.size());
    }

    /** The median of a field over the counted steps. */
    private static double median(List<JsonNode> steps, String field) {
        double[] v = steps.stream().mapToDouble(s -> s.path(field).asDouble()).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }
}
