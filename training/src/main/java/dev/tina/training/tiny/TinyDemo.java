package dev.tina.training.tiny;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.eval.grading.Grader;
import dev.tina.eval.tracking.Tracker;
import dev.tina.export.checkpoint.SafetensorsWriter;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.training.grpo.GrpoRecipe;
import dev.tina.training.grpo.GrpoTrainer;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Tina in miniature on the embedded model: held-out accuracy of the base, GRPO on a LoRA adapter
 * with format + accuracy rewards, held-out accuracy again; for each (rank, seed) asked for. One
 * base evaluation serves every run (it does not depend on the run). Writes {@code report.json},
 * {@code report.md} and {@code report.png} into the output folder; runs live in {@code runs/}.
 */
public final class TinyDemo {
    public record Settings(Path model, GrpoRecipe recipe, List<Integer> ranks, List<Long> seeds, int steps,
                           int evalProblems, int evalSamples, long evalSeed, SessionSettings.Device device, boolean resume) {
        public Settings {
            ranks = List.copyOf(ranks);
            seeds = List.copyOf(seeds);
            if (ranks.isEmpty() || seeds.isEmpty()) throw new IllegalArgumentException("at least one rank and one seed");
            if (steps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + steps);
            if (evalProblems < 1 || evalProblems > ArithmeticTask.HELD_OUT_POOL) {
                throw new IllegalArgumentException("eval problems must be in [1, " + ArithmeticTask.HELD_OUT_POOL + "], got " + evalProblems);
            }
        }

        /**
         * Units of work for a progress bar: one per evaluated sample, and per GRPO step four per
         * completion (a step samples, scores and trains on each: about four times a sample's cost).
         */
        public long work() {
            long evals = (long) evalProblems * evalSamples;
            return evals + (long) ranks.size() * seeds.size() * ((long) steps * stepUnits() + evals);
        }

        long stepUnits() { return 4L * recipe.microBatch() * recipe.accumulation(); }
    }

    /** Where the demo is; {@code advance} counts units of {@link Settings#work()}. */
    public interface Listener {
        void phase(String text);

        void advance(long units);
    }

    /** One GRPO run's outcome. */
    public record Run(int rank, double alpha, long seed, HeldOutEval.Result after, List<Double> reward, List<Double> format,
                      List<Double> accuracy, double grpoSeconds, double rolloutTokensPerSecond) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private TinyDemo() {}

    public static ObjectNode run(Settings s, Path out, Listener listener) throws Exception {
        long t0 = System.nanoTime();
        Files.createDirectories(out);
        Path data = out.resolve("grpo-prompts.jsonl");
        int promptsPerStep = s.recipe().microBatch() * s.recipe().accumulation() / s.recipe().generations();
        writePrompts(data, s.steps() * promptsPerStep);
        List<ArithmeticTask.Problem> heldOut = ArithmeticTask.heldOut(s.evalProblems());

        HeldOutEval.Result before;
        try (Grader grader = new Grader()) {
            grader.warmUp();
            listener.phase("held-out accuracy of the base model");
            before = evaluate(s, null, heldOut, grader, listener);
            List<Run> runs = new ArrayList<>();
            for (int rank : s.ranks()) {
                for (long seed : s.seeds()) {
                    runs.add(grpo(s, out, data, rank, seed, heldOut, grader, listener));
                }
            }
            double wall = (System.nanoTime() - t0) / 1e9;
            ObjectNode report = report(s, before, runs, wall);
            SafetensorsWriter.writeJsonAtomically(out.resolve("report.json"), report);
            DemoReport.markdown(out.resolve("report.md"), report);
            DemoReport.chart(out.resolve("report.png"), before, runs, report);
            return report;
        }
    }

    private static HeldOutEval.Result evaluate(Settings s, Path adapter, List<ArithmeticTask.Problem> heldOut, Grader grader,
                                               Listener listener) throws Exception {
        try (LoadedModel m = LoadedModel.open(s.model(), SessionSettings.of(s.device()));
             BatchSampler sampler = m.sampler(128);
             AdapterBinding binding = m.adapter(adapter)) {
            return HeldOutEval.run(m, sampler, binding, heldOut, s.evalSamples(), s.evalSeed(), grader, listener::advance);
        }
    }

    private static Run grpo(Settings s, Path out, Path data, int rank, long seed, List<ArithmeticTask.Problem> heldOut,
                            Grader grader, Listener listener) throws Exception {
        double alpha = 4.0 * rank; // the paper's rank ablation keeps alpha = 4 r
        ObjectNode o = JSON.createObjectNode();
        o.put("model_name_or_path", s.model().toString());
        o.put("dataset_path", data.toString());
        o.put("max_steps", s.steps());
        o.put("lora_r", rank);
        o.put("lora_alpha", alpha);
        o.put("seed", seed);
        o.put("save_steps", Math.min(s.steps(), CHECKPOINT_EVERY));
        o.put("save_total_limit", 1);
        o.put("device", s.device().cli());
        var reportTo = o.putArray("report_to").add(Tracker.JSONL.cli()); // the demo reads each run's metrics.jsonl, whatever the recipe says
        if (s.recipe().trackers().contains(Tracker.TENSORBOARD)) reportTo.add(Tracker.TENSORBOARD.cli());
        GrpoRecipe recipe = s.recipe().with(o);
        Path dir = out.resolve("runs").resolve("r" + rank + "-seed" + seed);
        listener.phase("GRPO, LoRA rank " + rank + ", seed " + seed);
        Path adapter = dir.resolve("checkpoint-" + s.steps()).resolve("adapter");
        if (s.resume() && Files.isDirectory(adapter)) {
            listener.advance(s.steps() * s.stepUnits()); // finished before: its checkpoint and metrics stand
        } else {
            // resumes from the run's last checkpoint (every 20 steps), or starts it afresh
            long[] last = {0}; // steps restored from a checkpoint count when the first new one reports
            new GrpoTrainer(recipe, dir).run(s.resume(), m -> {
                long step = m.get("step").asLong();
                listener.advance((step - last[0]) * s.stepUnits());
                last[0] = step;
            });
        }
        List<Double> reward = new ArrayList<>(), format = new ArrayList<>(), accuracy = new ArrayList<>();
        double tokens = 0, samplingSeconds = 0, seconds = 0;
        for (String line : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
            if (line.isBlank()) continue;
            JsonNode m = JSON.readTree(line);
            reward.add(m.get("reward").asDouble());
            format.add(m.path("rewards/format/mean").asDouble(Double.NaN));
            accuracy.add(m.path("rewards/accuracy/mean").asDouble(Double.NaN));
            tokens += m.get("tokens_generated").asDouble();
            samplingSeconds += m.get("seconds_sampling").asDouble();
            for (String f : List.of("seconds_handover", "seconds_sampling", "seconds_rewards", "seconds_reference", "seconds_training")) {
                seconds += m.path(f).asDouble();
            }
        }
        listener.phase("held-out accuracy after GRPO (rank " + rank + ", seed " + seed + ")");
        HeldOutEval.Result after = evaluate(s, adapter, heldOut, grader, listener);
        return new Run(rank, alpha, seed, after, reward, format, accuracy, seconds, tokens / Math.max(1e-9, samplingSeconds));
    }

    /** GRPO prompts: fresh 3–4 operand problems, none of them held out. */
    /** The demo's GRPO prompts (hard arithmetic, held-out questions excluded), as JSONL rows {problem, answer}. */
    public static void writePrompts(Path file, int n) throws IOException {
        Set<String> exclude = ArithmeticTask.heldOutQuestions();
        List<ArithmeticTask.Problem> problems = ArithmeticTask.problems(GRPO_PROMPT_SEED, n, ArithmeticTask.HARD, exclude);
        dev.tina.export.AtomicFiles.write(file, tmp -> {
            try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                for (ArithmeticTask.Problem p : problems) {
                    ObjectNode row = JSON.createObjectNode();
                    row.put("problem", p.question());
                    row.put("answer", String.valueOf(p.answer()));
                    w.write(JSON.writeValueAsString(row));
                    w.write('\n');
                }
            }
        });
    }

    static final long GRPO_PROMPT_SEED = 77;
    /** GRPO checkpoints (the last one kept) so that {@code --resume} loses at most this many steps. */
    static final int CHECKPOINT_EVERY = 20;

    static ObjectNode report(Settings s, HeldOutEval.Result before, List<Run> runs, double wall) {
        ObjectNode r = JSON.createObjectNode();
        int mainRank = s.ranks().getFirst();
        List<Run> main = runs.stream().filter(x -> x.rank() == mainRank).toList();
        double[] acc = main.stream().mapToDouble(x -> x.after().accuracy()).toArray();
        r.put("accuracy_before", before.accuracy());
        r.put("accuracy_after", mean(acc));
        r.put("accuracy_after_std", std(acc));
        r.put("accuracy_after_min", java.util.Arrays.stream(acc).min().orElse(Double.NaN));
        r.put("accuracy_after_max", java.util.Arrays.stream(acc).max().orElse(Double.NaN));
        r.put("format_before", before.formatRate());
        r.put("format_after", mean(main.stream().mapToDouble(x -> x.after().formatRate()).toArray()));
        r.put("step_by_step_before", before.stepByStepRate());
        r.put("step_by_step_after", mean(main.stream().mapToDouble(x -> x.after().stepByStepRate()).toArray()));
        r.put("accuracy_before_when_step_by_step", before.stepByStepAccuracy());
        r.put("accuracy_before_when_one_line", before.oneLineAccuracy());
        r.put("accuracy_after_when_step_by_step", mean(main.stream().mapToDouble(x -> x.after().stepByStepAccuracy()).toArray()));
        r.put("wall_seconds", wall);
        r.put("eval_tokens_per_second", before.tokensPerSecond());
        r.put("rollout_tokens_per_second", mean(main.stream().mapToDouble(Run::rolloutTokensPerSecond).toArray()));
        r.put("cores", Runtime.getRuntime().availableProcessors());
        r.put("device", s.device().cli());
        ObjectNode ev = r.putObject("evaluation");
        ev.put("problems", s.evalProblems());
        ev.put("samples_per_problem", s.evalSamples());
        ev.put("temperature", HeldOutEval.TEMPERATURE);
        ev.put("top_p", HeldOutEval.TOP_P);
        ev.put("seed", s.evalSeed());
        ev.put("held_out", "3- and 4-operand problems, ArithmeticTask.heldOut (fixed seed), never in pre-training or GRPO prompts");
        r.put("model", s.model().toString());
        r.set("recipe", JSON.valueToTree(s.recipe()));
        r.put("grpo_steps", s.steps());
        r.put("main_rank", mainRank);
        ArrayNode rs = r.putArray("runs");
        for (Run x : runs) {
            ObjectNode o = rs.addObject();
            o.put("rank", x.rank());
            o.put("alpha", x.alpha());
            o.put("seed", x.seed());
            o.put("accuracy_after", x.after().accuracy());
            o.put("format_after", x.after().formatRate());
            o.put("step_by_step_after", x.after().stepByStepRate());
            o.put("grpo_seconds", x.grpoSeconds());
            o.put("rollout_tokens_per_second", x.rolloutTokensPerSecond());
            o.put("first_step_with_format_reward_0.95", firstAtLeast(x.format(), 0.95));
            putSeries(o.putArray("reward"), x.reward());
            putSeries(o.putArray("format_reward"), x.format());
            putSeries(o.putArray("accuracy_reward"), x.accuracy());
        }
        return r;
    }

    static int firstAtLeast(List<Double> v, double level) {
        for (int i = 0; i < v.size(); i++) if (v.get(i) >= level) return i + 1;
        return -1;
    }

    private static void putSeries(ArrayNode a, List<Double> v) {
        for (double d : v) a.add(Math.round(d * 1e4) / 1e4);
    }

    static double mean(double[] v) {
        double s = 0;
        for (double x : v) s += x;
        return v.length == 0 ? Double.NaN : s / v.length;
    }

    /** Sample standard deviation (0 for a single run). */
    static double std(double[] v) {
        if (v.length < 2) return 0;
        double m = mean(v), s = 0;
        for (double x : v) s += (x - m) * (x - m);
        return Math.sqrt(s / (v.length - 1));
    }
}
