package dev.tina.training.grpo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.eval.grading.Grader;
import dev.tina.eval.tracking.EventFileWriter;
import dev.tina.eval.tracking.EventFiles;
import dev.tina.eval.tracking.Tracker;
import dev.tina.export.AtomicOutputDirectory;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.checkpoint.SafetensorsWriter;
import dev.tina.export.peft.LoraConfig;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.training.optim.LoraInit;
import dev.tina.training.optim.GradientSum;
import dev.tina.training.optim.LoraTrainer;
import dev.tina.training.optim.LrSchedule;
import dev.tina.training.dist.RemoteGradients;
import dev.tina.training.layered.MemoryBudget;
import dev.tina.training.layered.Recompute;
import dev.tina.training.ort.GradientEngine;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The GRPO loop on LoRA: sample prompts → {@code num_generations} completions each through the
 * batched sampler with the live adapter → rewards → group advantages → reference log-probs
 * (the same graph's forward with {@code lora_scale} 0) → GRPO loss and gradients over micro-batches (ONNX Runtime) → clipping and AdamW
 * (Java) → the new factors bound to the sampler directly, versioned by step and content hash.
 * Checkpoints (adapter in PEFT layout, optimizer state, data cursor) are atomic; a resumed run
 * replays exactly the metrics an uninterrupted one logs (wall-clock fields aside).
 *
 * <p>Old log-probs are the sampler's (one update per batch, so the ratio is 1 up to the
 * sampler-vs-trainer gap, which is logged); the loss uses unscaled logits (temperature 1), as
 * Tina's trainer did.
 */
public final class GrpoTrainer {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final GrpoRecipe recipe;
    private final Path out;

    public GrpoTrainer(GrpoRecipe recipe, Path out) {
        this.recipe = recipe;
        this.out = out;
    }

    public record Summary(long steps, double wallSeconds, long tokensGenerated, Path lastCheckpoint) {}

    public Summary run(boolean resume, Consumer<ObjectNode> onStep) throws Exception {
        return run(resume, onStep, List.of());
    }

    /** @param extraRewards rewards given as code, scored after the recipe's (weight 1 unless the recipe lists more weights) */
    public Summary run(boolean resume, Consumer<ObjectNode> onStep, List<Reward> extraRewards) throws Exception {
        if (recipe.modelNameOrPath() == null) throw new IllegalArgumentException("recipe: model_name_or_path is required");
        if (recipe.datasetPath() == null) throw new IllegalArgumentException("recipe: dataset_path is required");
        int completionsPerStep = recipe.microBatch() * recipe.accumulation();
        if (completionsPerStep % recipe.generations() != 0) {
            throw new IllegalArgumentException("per_device_train_batch_size × gradient_accumulation_steps (" + completionsPerStep
                    + ") must be a multiple of num_generations (" + recipe.generations() + ")");
        }
        int promptsPerStep = completionsPerStep / recipe.generations();
        Files.createDirectories(out);
        long t0 = System.nanoTime();
        Grader grader = new Grader();
        try {
            grader.warmUp();
            List<Reward> rewards = new ArrayList<>();
            for (String r : recipe.rewards()) rewards.add(Reward.parse(r, grader));
            rewards.addAll(extraRewards);
            return loop(resume, onStep, rewards, promptsPerStep, t0);
        } finally {
            grader.close();
        }
    }

    private Summary loop(boolean resume, Consumer<ObjectNode> onStep, List<Reward> rewards, int promptsPerStep, long t0) throws Exception {
        PromptDataset data = PromptDataset.read(Path.of(recipe.datasetPath()), recipe.problemField(), recipe.answerField(), recipe.runSeed());
        List<Projection> targets = recipe.targets().stream().map(Projection::fromModuleName).toList();
        LoraConfig loraConfig = LoraConfig.of(recipe.rank(), recipe.alpha(), 0.0, targets, Boolean.TRUE.equals(recipe.useRslora()));
        long totalSteps = recipe.steps();
        var settings = new LoraTrainer.Settings(recipe.lr(), LrSchedule.parse(recipe.scheduler(), recipe.minLr()), totalSteps,
                LrSchedule.warmupSteps(recipe.warmup(), totalSteps), recipe.gradNorm(),
                recipe.beta1(), recipe.beta2(), recipe.adamEps(), recipe.decay());
        long tokensGenerated = 0;
        Path lastCheckpoint = null;
        // one memory-mapped copy of the base weights for the sampler, the gradient graph and the scorer
        SessionSettings.Device device = recipe.deviceKind();
        boolean here = runners.runsHere(); // else the steps run on a cluster: no sampler, gradient or reference session here
        Recompute.Decision pass = null;
        try (LoadedModel model = LoadedModel.openShared(Path.of(recipe.modelNameOrPath()), SessionSettings.of(device));
             LoadedModel quantized = here ? quantizedRollouts(recipe, model) : null;
             BatchSampler sampler = here ? samplerFor(quantized != null ? quantized : model) : null) {
            if (!here) requireTokenizer(model);
            // auto decided once, here, and the workers (this process or a cluster's) handed the fixed pass
            pass = recipe.recomputeDecision(model.config(), MemoryBudget.physicalBytes());
            log.accept("gradient pass: --recompute " + pass);
            GrpoRecipe fixed = recipe.withRecompute(pass.mode());
            try (GrpoEngines engines = here ? GrpoEngines.open(fixed, model) : null;
                 GradientEngine remote = here ? null : new RemoteGradients(model.config(), targets, recipe.rank())) {
                GradientEngine grads = here ? engines.gradients() : remote, reference = here ? engines.reference() : null;
                LoraTrainer trainer;
                Path latest = resume ? latestCheckpoint() : null;
                if (latest != null) {
                    trainer = LoraTrainer.restore(grads, latest.resolve("optimizer"), settings);
                    truncateMetrics(trainer.step());
                    EventFiles.trim(out, trainer.step()); // whatever report_to says now: stale steps never reach TensorBoard
                } else {
                    deleteOldRun(); // also when resuming with no checkpoint yet: the steps logged since were never saved
                    trainer = new LoraTrainer(grads, LoraInit.peft(model.config(), targets, recipe.rank(), recipe.runSeed()), settings);
                }
                Set<Tracker> trackers = recipe.trackers();
                try (StepRunner runner = runners.open(fixed, new StepWorker(fixed, model, sampler, grads, reference, rewards));
                     EventFileWriter events = trackers.contains(Tracker.TENSORBOARD) ? EventFileWriter.append(out) : null) {
                    long lastPlot = System.nanoTime() - PLOT_EVERY_NANOS; // the first step draws
                    while (trainer.step() < totalSteps) {
                        long step = trainer.step(); // steps done; this is step + 1
                        long[] copiedBefore = here ? sum(grads.totalCopyBytes(), reference.totalCopyBytes()) : null;
                        Logged logged = oneStep(model, runner, trainer, data, rewards, promptsPerStep, step);
                        ObjectNode metrics = logged.metrics();
                        metrics.put("recompute", pass.mode().cli());
                        if (here && device != SessionSettings.Device.CPU) {
                            // ONNX Runtime's Java API has no IoBinding: on CUDA every training/scoring run copies its
                            // inputs up and its outputs down; the step's bytes show what that costs
                            long[] copied = sum(grads.totalCopyBytes(), reference.totalCopyBytes());
                            metrics.put("device", device.cli());
                            metrics.put("training_host_to_device_bytes", copied[0] - copiedBefore[0]);
                            metrics.put("training_device_to_host_bytes", copied[1] - copiedBefore[1]);
                        }
                        tokensGenerated += metrics.get("tokens_generated").asLong();
                        boolean save = trainer.step() % recipe.saveEvery() == 0 || trainer.step() == totalSteps;
                        if (trackers.contains(Tracker.JSONL)) {
                            appendMetrics(metrics);
                            // drawing the chart costs ~30 ms (2-3 s of the demo's 80 short steps when drawn every step)
                            if (save || System.nanoTime() - lastPlot >= PLOT_EVERY_NANOS) {
                                plotCurves();
                                lastPlot = System.nanoTime();
                            }
                        }
                        if (events != null) events.write(metrics.get("step").asLong(), TrainEvents.of(metrics, logged.completions()));
                        onStep.accept(metrics);
                        if (save) lastCheckpoint = checkpoint(trainer, loraConfig, model);
                    }
                }
            }
        }
        Summary summary = new Summary(recipe.steps(), (System.nanoTime() - t0) / 1e9, tokensGenerated, lastCheckpoint);
        ObjectNode sum = JSON.createObjectNode();
        sum.put("steps", summary.steps());
        sum.put("wall_seconds_this_session", summary.wallSeconds());
        sum.put("tokens_generated_this_session", summary.tokensGenerated());
        sum.put("last_checkpoint", String.valueOf(summary.lastCheckpoint()));
        sum.put("recompute", pass.mode().cli());
        sum.put("recompute_reason", pass.reason());
        sum.put("price_per_machine_hour", pricePerHour);
        sum.put("estimated_cost_this_session", pricePerHour * summary.wallSeconds() / 3600); // the paper's accounting: hours × price
        SafetensorsWriter.writeJsonAtomically(out.resolve("summary.json"), sum);
        return summary;
    }

    private static long[] sum(long[] a, long[] b) { return new long[]{a[0] + b[0], a[1] + b[1]}; }

    /**
     * With {@code quantized_rollouts}: the export's quantized graphs, opened beside the full-precision model that
     * trains and scores (off-policy rollouts; the gap is logged every step). Null otherwise.
     */
    static LoadedModel quantizedRollouts(GrpoRecipe recipe, LoadedModel model) throws Exception {
        if (!recipe.rolloutsQuantized()) return null;
        LoadedModel q = LoadedModel.open(model.exportDir(), SessionSettings.of(recipe.deviceKind()));
        if (!q.decoder().quantized()) {
            q.close();
            throw new IllegalArgumentException("quantized_rollouts: " + model.exportDir() + " has no quantized graphs; export it with tina export --quantize int8|int4|w8a8");
        }
        var d = q.decoder().descriptor().quantization();
        System.err.printf("rollouts sampled on the %s graphs: off-policy, the sampler/trainer log-prob gap is logged every step "
                + "(sampler_trainer_logp_gap)%n", d.describe());
        return q;
    }

    /** Rollouts on the recipe's device: the ONNX Runtime session (CPU, CUDA) or a TensorRT engine. */
    private static BatchSampler samplerFor(LoadedModel model) throws Exception {
        requireTokenizer(model);
        return model.sampler(64);
    }

    private static void requireTokenizer(LoadedModel model) {
        if (model.tokenizer().isEmpty()) {
            throw new IllegalArgumentException(model.exportDir() + ": GRPO needs the model's tokenizer.json (rewards read text)");
        }
    }

    private Consumer<String> log = line -> {};

    /** Where the run's start-up lines go (the chosen gradient pass and why); default: nowhere. */
    public GrpoTrainer log(Consumer<String> log) {
        this.log = Objects.requireNonNull(log);
        return this;
    }

    private double pricePerHour = 1.0;

    /** The price of one machine (the paper: one GPU) per hour, for the run summary's cost estimate. */
    public GrpoTrainer pricePerHour(double usd) {
        this.pricePerHour = usd;
        return this;
    }

    private StepRunner.Factory runners = (recipe, local) -> StepRunner.inProcess(local);

    /**
     * Where each step's rollouts, rewards, reference log-probs and gradient passes run (default:
     * this process). The driver keeps the cursor, the reduction, AdamW, checkpoints and metrics.
     */
    public GrpoTrainer runner(StepRunner.Factory factory) {
        this.runners = Objects.requireNonNull(factory);
        return this;
    }

    private int rolloutSlices = 1;

    /**
     * Cuts each step into this many slices (at most one per lcm(micro-batch, generations)
     * completions), each sampled in its own waves: what a cluster runs in parallel. Runs cut alike
     * log the same metrics bit for bit wherever they run; the default 1 samples the step in one piece.
     */
    public GrpoTrainer rolloutSlices(int n) {
        if (n < 1) throw new IllegalArgumentException("rollout slices must be >= 1, got " + n);
        this.rolloutSlices = n;
        return this;
    }

    /** A step's metrics and its sample completions as Markdown (null when it has none). */
    private record Logged(ObjectNode metrics, String completions) {}

    private Logged oneStep(LoadedModel model, StepRunner runner, LoraTrainer trainer, PromptDataset data, List<Reward> rewards,
                           int promptsPerStep, long step) throws Exception {
        long tStart = System.nanoTime();
        StepPlan plan = plan(model, trainer, data, promptsPerStep, step);
        StepRunner.Results results = runner.run(plan, trainer.weights());
        long tRan = System.nanoTime();
        List<SliceResult.Micro> micro = new ArrayList<>();
        for (SliceResult s : results.slices()) micro.addAll(s.micro());
        micro.sort(Comparator.comparingInt(SliceResult.Micro::index)); // the reduction order, whoever computed them
        List<GradientSum.Part> parts = micro.stream().map(SliceResult.Micro::part).toList();
        List<float[]> samplerLogps = micro.stream().map(SliceResult.Micro::samplerLogps).toList();
        LoraTrainer.StepMetrics m = trainer.apply(parts);
        long tEnd = System.nanoTime();
        List<SliceResult.Sample> samples = new ArrayList<>();
        for (SliceResult s : results.slices()) samples.addAll(s.samples());
        String completions = TrainEvents.completions(samples, i -> data.at(step * promptsPerStep + i), rewards.stream().map(Reward::name).toList());
        return new Logged(metrics(m, plan, results, rewards, samplerLogps, data, (tEnd - tRan) / 1e9, (tRan - tStart) / 1e9), completions);
    }

    /** The step's prompts at the data cursor (TRL keeps the end of an over-long prompt) and the adapter version to use. */
    private StepPlan plan(LoadedModel model, LoraTrainer trainer, PromptDataset data, int promptsPerStep, long step) {
        List<long[]> prompts = new ArrayList<>();
        List<String> answers = new ArrayList<>();
        for (int i = 0; i < promptsPerStep; i++) {
            PromptDataset.Row row = data.at(step * promptsPerStep + i);
            long[] ids = model.encodePrompt(row.problem(), recipe.chat(), recipe.systemPrompt());
            if (ids.length > recipe.promptLength()) ids = java.util.Arrays.copyOfRange(ids, ids.length - recipe.promptLength(), ids.length);
            prompts.add(ids);
            answers.add(row.answer());
        }
        return new StepPlan(step, StepWorker.adapterVersion(step, trainer.weights()), prompts, answers, recipe.generations(), recipe.microBatch(),
                rolloutSlices);
    }

    private ObjectNode metrics(LoraTrainer.StepMetrics m, StepPlan plan, StepRunner.Results results, List<Reward> rewards,
                               List<float[]> samplerLogps, PromptDataset data, double optimizerSeconds, double runSeconds) {
        int n = 0;
        for (SliceResult s : results.slices()) n += s.completions();
        double[] total = new double[n];
        double[][] per = new double[rewards.size()][n];
        long tokens = 0;
        SliceResult.Seconds seconds = new SliceResult.Seconds(0, 0, 0, 0, 0);
        int at = 0;
        for (SliceResult s : results.slices()) {
            System.arraycopy(s.total(), 0, total, at, s.completions());
            for (int r = 0; r < rewards.size(); r++) System.arraycopy(s.perReward()[r], 0, per[r], at, s.completions());
            for (int t : s.completionTokens()) tokens += t;
            seconds = seconds.plus(s.seconds());
            at += s.completions();
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("step", m.step());
        o.put("loss", m.loss());
        for (int r = 0; r < rewards.size(); r++) {
            o.put("rewards/" + rewards.get(r).name() + "/mean", mean(per[r]));
            o.put("rewards/" + rewards.get(r).name() + "/std", std(per[r]));
        }
        o.put("reward", mean(total));
        o.put("completion_length", (double) tokens / n);
        double klSum = 0, gap = 0;
        long klN = 0, gapN = 0;
        for (float[] k : m.kl()) for (float x : k) { klSum += x; klN++; }
        for (int i = 0; i < m.logps().size(); i++) {
            float[] a = m.logps().get(i), s = samplerLogps.get(i);
            for (int j = 0; j < a.length; j++) { gap += Math.abs(a[j] - s[j]); gapN++; }
        }
        o.put("kl", klN == 0 ? 0 : klSum / klN);
        // share of tokens whose ratio ρ = e^(l − l_old) lies outside [1 − ε_low, 1 + ε_high] (TRL's clip_ratio)
        long clipped = 0;
        for (int i = 0; i < m.logps().size(); i++) {
            float[] a = m.logps().get(i), old = samplerLogps.get(i);
            for (int j = 0; j < a.length; j++) {
                double ratio = Math.exp(a[j] - old[j]);
                if (ratio < 1 - recipe.eps() || ratio > 1 + recipe.epsHigh()) clipped++;
            }
        }
        o.put("clip_ratio", gapN == 0 ? 0 : (double) clipped / gapN);
        o.put("dataset_rows_skipped", data.skipped());
        o.put("sampler_trainer_logp_gap", gapN == 0 ? 0 : gap / gapN);
        o.put("learning_rate", m.learningRate());
        o.put("grad_norm", m.gradNorm());
        o.put("adapter_version", plan.adapterVersion());
        o.put("tokens_generated", tokens);
        // wall-clock fields: not reproduced by a resumed run (summed over slices when a step is spread out)
        o.put("seconds_handover", seconds.handover()); // binding the new factors to the sampler (in memory)
        o.put("seconds_sampling", seconds.sampling());
        o.put("seconds_rewards", seconds.rewards());
        o.put("seconds_reference", seconds.reference());
        o.put("seconds_training", seconds.training() + optimizerSeconds);
        o.put("tokens_per_second", tokens / seconds.sampling());
        o.put("seconds_step", runSeconds + optimizerSeconds);
        // a distributed runner's own costs (scheduling, serialisation, broadcast: seconds_*; bytes: spark_*)
        results.overhead().entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            if (e.getValue() instanceof Double || e.getValue() instanceof Float) o.put(e.getKey(), e.getValue().doubleValue());
            else o.put(e.getKey(), e.getValue().longValue());
        });
        return o;
    }

    /** Deterministic metric names: everything but the wall-clock ones. */
    public static boolean isWallClock(String field) {
        return field.startsWith("seconds_") || field.equals("tokens_per_second");
    }

    private Path checkpoint(LoraTrainer trainer, LoraConfig loraConfig, LoadedModel model) throws IOException {
        Path dir = Checkpoints.dir(out, trainer.step());
        try (AtomicOutputDirectory tmp = new AtomicOutputDirectory(dir, true)) {
            trainer.exportAdapter(tmp.path().resolve("adapter"), loraConfig, model.config());
            trainer.save(tmp.path().resolve("optimizer"));
            ObjectNode state = JSON.createObjectNode();
            state.put("step", trainer.step());
            state.put("seed", recipe.runSeed());
            SafetensorsWriter.writeJsonAtomically(tmp.path().resolve("trainer_state.json"), state);
            tmp.commit();
        }
        List<Path> all = checkpoints();
        for (int i = 0; i < all.size() - recipe.keep(); i++) AtomicOutputDirectory.deleteRecursively(all.get(i));
        return dir;
    }

    private List<Path> checkpoints() throws IOException { return Checkpoints.list(out); }

    private Path latestCheckpoint() throws IOException { return Checkpoints.latest(out).orElse(null); }

    private void deleteOldRun() throws IOException {
        for (Path p : checkpoints()) AtomicOutputDirectory.deleteRecursively(p);
        Files.deleteIfExists(out.resolve("metrics.jsonl"));
        Files.deleteIfExists(out.resolve("curves.png"));
        EventFiles.deleteAll(out);
    }

    /** {@code curves.png} is redrawn at most this often, and at every checkpoint and the last step. */
    static final long PLOT_EVERY_NANOS = 10_000_000_000L;

    /** Redraws {@code curves.png} from {@code metrics.jsonl}: reward, each reward function, loss, KL, completion length. */
    private void plotCurves() throws IOException {
        Map<String, List<Double>> series = new LinkedHashMap<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            if (line.isBlank()) continue;
            JsonNode n = JSON.readTree(line);
            for (var it = n.fields(); it.hasNext(); ) {
                var f = it.next();
                String k = f.getKey();
                if (k.equals("reward") || (k.startsWith("rewards/") && k.endsWith("/mean")) || k.equals("loss") || k.equals("kl")
                        || k.equals("completion_length")) {
                    series.computeIfAbsent(k, x -> new ArrayList<>()).add(f.getValue().asDouble());
                }
            }
        }
        CurvePlot.write(out.resolve("curves.png"), series);
    }

    private void appendMetrics(ObjectNode m) throws IOException {
        try (BufferedWriter w = Files.newBufferedWriter(out.resolve("metrics.jsonl"), StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
            w.write(JSON.writeValueAsString(m));
            w.write('\n');
        }
    }

    /** Drops metric lines of steps after the checkpoint being resumed (they will be logged again). */
    private void truncateMetrics(long step) throws IOException {
        Path f = out.resolve("metrics.jsonl");
        if (!Files.exists(f)) return;
        List<String> keep = new ArrayList<>();
        for (String line : Files.readAllLines(f)) {
            if (line.isBlank()) continue;
            try {
                JsonNode n = JSON.readTree(line);
                if (n.path("step").asLong() <= step) keep.add(line);
            } catch (com.fasterxml.jackson.core.JacksonException e) {
                // a line torn by a crash: dropped, its step is replayed
            }
        }
        dev.tina.export.AtomicFiles.write(f, tmp -> Files.write(tmp, keep));
    }

    static double mean(double[] v) {
        double s = 0;
        for (double x : v) s += x;
        return v.length == 0 ? 0 : s / v.length;
    }

    static double std(double[] v) {
        double m = mean(v), s = 0;
        for (double x : v) s += (x - m) * (x - m);
        return v.length < 2 ? 0 : Math.sqrt(s / (v.length - 1));
    }
}
