package dev.tina.training.grpo;

import dev.tina.testsupport.Shared;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.checkpoint.DType;
import dev.tina.eval.tracking.EventFiles;
import dev.tina.eval.tracking.Tracker;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Event;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Summary;
import dev.tina.export.init.RandomCheckpoint;
import dev.tina.training.ort.TrainingNatives;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The GRPO loop end to end on a tiny random Qwen2 with the real Qwen tokenizer. */
class GrpoTrainerTest {
    static { TrainingNatives.install(); }
    static final Path SHARED = Shared.ROOT;
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir static Path tmp;
    static Path model, data;

    /** Reward: the completion starts (after spaces) with an ASCII capital; rare for a random model. */
    static final Reward.PerCompletion ASCII = new Reward.Custom("starts_with_capital", (completion, gold) -> {
        String s = completion.strip();
        return !s.isEmpty() && s.charAt(0) >= 'A' && s.charAt(0) <= 'Z' ? 1.0 : 0.0;
    });

    @BeforeAll
    static void setUp() throws Exception {
        Path cfg = tmp.resolve("cfg.json");
        Files.writeString(cfg, """
                {"architectures": ["Qwen2ForCausalLM"], "vocab_size": 151936, "hidden_size": 32, "intermediate_size": 64,
                 "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-6,
                 "rope_theta": 10000.0, "tie_word_embeddings": true, "max_position_embeddings": 256,
                 "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu", "initializer_range": 1.5}""");
        model = tmp.resolve("model");
        RandomCheckpoint.write(cfg, model, DType.F32, 1, 3, false);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) Files.copy(SHARED.resolve("tokenizers/qwen2-bpe").resolve(f), model.resolve(f));
        data = tmp.resolve("data.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 20; i++) sb.append("{\"problem\": \"What is ").append(i).append(" + ").append(i).append("?\", \"answer\": \"").append(2 * i).append("\"}\n");
        sb.append("{\"problem\": \"no answer here\"}\n");
        Files.writeString(data, sb);
    }

    static GrpoRecipe recipe(int steps) {
        ObjectNode r = JSON.createObjectNode();
        r.put("model_name_or_path", model.toString());
        r.put("dataset_path", data.toString());
        r.put("learning_rate", 5e-2);
        r.put("lr_scheduler_type", "constant");
        r.put("max_steps", steps);
        r.put("per_device_train_batch_size", 8);
        r.put("gradient_accumulation_steps", 1);
        r.put("num_generations", 4);
        r.put("max_completion_length", 3);
        r.put("temperature", 1.0);
        r.put("beta", 0.0);
        r.put("lora_r", 8);
        r.put("lora_alpha", 16);
        r.putArray("reward_funcs");
        r.put("save_steps", 2);
        r.put("save_total_limit", 2);
        r.put("seed", 5);
        return GrpoRecipe.fromTree(r, "test recipe");
    }

    static List<JsonNode> deterministic(Path metrics) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(metrics)) {
            ObjectNode n = (ObjectNode) JSON.readTree(line);
            for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) if (GrpoTrainer.isWallClock(it.next())) it.remove();
            out.add(n);
        }
        return out;
    }

    @Test
    void rewardRisesOverTheBaselineOfTheSameRun() throws Exception {
        Path out = tmp.resolve("learn");
        List<Double> rewards = new ArrayList<>();
        new GrpoTrainer(recipe(20), out).run(false, m -> rewards.add(m.get("reward").asDouble()), List.of(ASCII));
        double first = (rewards.get(0) + rewards.get(1) + rewards.get(2) + rewards.get(3)) / 4;
        double last = (rewards.get(16) + rewards.get(17) + rewards.get(18) + rewards.get(19)) / 4;
        System.out.println("GRPO reward per step: " + rewards);
        assertTrue(last > first + 0.25, "reward " + rewards);
        assertTrue(Files.isRegularFile(out.resolve("checkpoint-20/adapter/adapter_model.safetensors")));
        assertTrue(Files.size(out.resolve("curves.png")) > 1000);
        assertTrue(JSON.readTree(out.resolve("summary.json").toFile()).get("estimated_cost_this_session").asDouble() > 0);
        try (var s = Files.list(out)) {
            assertEquals(2, s.filter(p -> p.getFileName().toString().startsWith("checkpoint-")).count(), "save_total_limit");
        }
    }

    @Test
    void aRunInterruptedBetweenCheckpointsResumesToTheSameMetrics() throws Exception {
        Path full = tmp.resolve("full"), cut = tmp.resolve("cut");
        new GrpoTrainer(recipe(5), full).run(false, m -> { }, List.of(ASCII));
        var e = assertThrows(IllegalStateException.class, () -> new GrpoTrainer(recipe(5), cut).run(false, m -> {
            if (m.get("step").asLong() == 3) throw new IllegalStateException("killed after step 3");
        }, List.of(ASCII)));
        assertEquals("killed after step 3", e.getMessage());
        new GrpoTrainer(recipe(5), cut).run(true, m -> { }, List.of(ASCII));
        List<JsonNode> a = deterministic(full.resolve("metrics.jsonl")), b = deterministic(cut.resolve("metrics.jsonl"));
        assertEquals(5, a.size());
        assertEquals(a, b);
        assertEquals(1, a.getFirst().get("dataset_rows_skipped").asInt(), "the row without an answer is skipped and counted");
        assertTrue(a.getFirst().has("clip_ratio"));
    }

    /** Each step's scalars (wall-clock ones left out) and text, in file order, from a run folder's single event file. */
    static List<Map<String, Object>> tensorBoardSteps(Path run) throws Exception {
        List<Path> files = EventFiles.list(run);
        assertEquals(1, files.size(), files.toString());
        List<Event> events = EventFiles.read(files.getFirst()); // CRCs checked
        assertEquals("brain.Event:2", events.getFirst().getFileVersion());
        List<Map<String, Object>> steps = new ArrayList<>();
        for (Event e : events.subList(1, events.size())) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("step", e.getStep());
            for (Summary.Value v : e.getSummary().getValueList()) {
                if (v.hasTensor()) m.put(v.getTag(), v.getTensor().getStringVal(0).toStringUtf8());
                else if (!GrpoTrainer.isWallClock(v.getTag().substring("train/".length()))) m.put(v.getTag(), v.getSimpleValue());
            }
            steps.add(m);
        }
        return steps;
    }

    @Test
    void tensorBoardEventsOfAResumedRunHoldEachStepOnce() throws Exception {
        GrpoRecipe tb = recipe(5).with((ObjectNode) JSON.readTree("{\"report_to\": [\"tensorboard\"]}"));
        Path full = tmp.resolve("tb-full"), cut = tmp.resolve("tb-cut");
        new GrpoTrainer(tb, full).run(false, m -> { }, List.of(ASCII));
        assertFalse(Files.exists(full.resolve("metrics.jsonl")), "jsonl not asked for");
        List<Map<String, Object>> a = tensorBoardSteps(full);
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L), a.stream().map(m -> m.get("step")).toList());
        for (Map<String, Object> m : a) {
            for (String tag : List.of("train/loss", "train/reward", "train/rewards/starts_with_capital/mean", "train/kl", "train/learning_rate",
                    "train/grad_norm", "train/completion_length", "train/clip_ratio")) {
                assertTrue(m.containsKey(tag), tag + " at step " + m.get("step") + ": " + m.keySet());
            }
            String text = (String) m.get("train/completions");
            assertTrue(text.startsWith("**prompt 1** · reward ") && text.contains("starts\\_with\\_capital") && text.contains("**prompt 2**"), text);
            assertTrue(text.contains("    What is ") && text.contains("\n    gold: "), text);
        }
        // killed after step 3 was logged; checkpoint-2 is the last: step 3 is logged again on resume, and must not appear twice
        assertThrows(IllegalStateException.class, () -> new GrpoTrainer(tb, cut).run(false, m -> {
            if (m.get("step").asLong() == 3) throw new IllegalStateException("killed after step 3");
        }, List.of(ASCII)));
        assertEquals(List.of(1L, 2L, 3L), tensorBoardSteps(cut).stream().map(m -> m.get("step")).toList());
        new GrpoTrainer(tb, cut).run(true, m -> { }, List.of(ASCII));
        assertEquals(a, tensorBoardSteps(cut));

        // report_to none: the run keeps checkpoints, writes no metrics
        Path quiet = tmp.resolve("tb-none");
        new GrpoTrainer(recipe(1).with((ObjectNode) JSON.readTree("{\"report_to\": \"none\"}")), quiet).run(false, m -> { }, List.of(ASCII));
        assertTrue(Files.isDirectory(quiet.resolve("checkpoint-1")));
        assertFalse(Files.exists(quiet.resolve("metrics.jsonl")));
        assertEquals(List.of(), EventFiles.list(quiet));
    }

    @Test
    void reportToIsCheckedAndDefaultsToJsonl() {
        assertEquals(Set.of(Tracker.JSONL), recipe(1).trackers());
        assertEquals(Set.of(Tracker.TENSORBOARD), GrpoRecipe.parse("report_to: tensorboard", "r.yaml").trackers(), "one name, as TRL takes it");
        assertEquals(Set.of(Tracker.JSONL, Tracker.TENSORBOARD), GrpoRecipe.parse("report_to: [jsonl, tensorboard]", "r.yaml").trackers());
        var e = assertThrows(dev.tina.export.checkpoint.CheckpointFormatException.class, () -> GrpoRecipe.parse("report_to: [wandb]", "r.yaml"));
        assertEquals("r.yaml: report_to: unknown value 'wandb', expected one of jsonl, tensorboard, none", e.getMessage());
    }

    @Test
    void aRunInterruptedMidStepResumesToTheSameMetrics() throws Exception {
        Path full = tmp.resolve("full-mid"), cut = tmp.resolve("cut-mid");
        new GrpoTrainer(recipe(5), full).run(false, m -> { }, List.of(ASCII));
        // dies while scoring step 4's rollouts: after sampling, before the update
        int[] calls = {0};
        Reward dying = new Reward.Custom("starts_with_capital", (c, g) -> {
            if (++calls[0] == 3 * 8 + 5) throw new IllegalStateException("killed mid-step");
            return ASCII.score(c, g);
        });
        assertThrows(IllegalStateException.class, () -> new GrpoTrainer(recipe(5), cut).run(false, m -> { }, List.of(dying)));
        assertEquals(3, Files.readAllLines(cut.resolve("metrics.jsonl")).size());
        new GrpoTrainer(recipe(5), cut).run(true, m -> { }, List.of(ASCII));
        assertEquals(deterministic(full.resolve("metrics.jsonl")), deterministic(cut.resolve("metrics.jsonl")));
    }

    @Test
    void unknownRecipeFieldsAndRewardsAreNamed() {
        ObjectNode r = JSON.createObjectNode();
        r.put("learning_rat", 1e-5);
        var e = assertThrows(dev.tina.export.checkpoint.CheckpointFormatException.class, () -> GrpoRecipe.fromTree(r, "recipe.yaml"));
        assertTrue(e.getMessage().contains("'learning_rat'") && e.getMessage().contains("'learning_rate'"), e.getMessage());
        var bad = assertThrows(IllegalArgumentException.class, () -> Reward.parse("cosine_typo", null));
        assertTrue(bad.getMessage().contains("accuracy"), bad.getMessage());
    }

    @Test
    void advantagesFollowTinasTrainer() {
        float[] a = Advantages.group(new double[]{1, 0, 0, 1, 1, 1, 1, 1}, 4, true);
        double std = Math.sqrt(((0.25 + 0.25 + 0.25 + 0.25) / 3)); // unbiased
        assertEquals((float) (0.5 / (std + 1e-4)), a[0], 1e-6f);
        assertEquals(0f, a[4], 0f); // a group with equal rewards teaches nothing
        assertEquals(0.5f, Advantages.group(new double[]{1, 0}, 2, false)[0], 0f);
    }
}
