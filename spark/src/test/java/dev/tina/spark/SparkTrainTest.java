package dev.tina.spark;

import dev.tina.testsupport.Shared;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.ToolVersion;
import dev.tina.export.init.RandomCheckpoint;
import dev.tina.training.dist.ClusterException;
import dev.tina.training.grpo.GrpoRecipe;
import dev.tina.training.grpo.GrpoTrainer;
import dev.tina.training.grpo.StepPlan;
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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GRPO under Spark local mode against the single-process run of the same recipe, on a tiny random
 * Qwen2 with the real Qwen tokenizer: the same metrics bit for bit (all but wall-clock fields and
 * Spark's own), the same adapter; a task failing on its first attempt is retried without changing
 * the step; bad configuration fails with a message that names the problem.
 */
class SparkTrainTest {
    static {
        SparkCluster.configureLogging(); // before the grader loads log4j
        TrainingNatives.install();
    }
    static final Path SHARED = Shared.ROOT;
    static final ObjectMapper JSON = new ObjectMapper();
    static final int STEPS = 3;
    @TempDir static Path tmp;
    static Path model, data;
    static List<JsonNode> single, onePiece;
    static byte[] singleAdapter;

    @BeforeAll
    static void singleProcessRun() throws Exception {
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
        for (int i = 0; i < 24; i++) sb.append("{\"problem\": \"What is ").append(i).append(" + ").append(i).append("?\", \"answer\": \"").append(2 * i).append("\"}\n");
        Files.writeString(data, sb);
        Path out = tmp.resolve("single");
        new GrpoTrainer(recipe(), out).rolloutSlices(2).run(false, m -> { });
        Path whole = tmp.resolve("one-piece");
        new GrpoTrainer(recipe(), whole).run(false, m -> { });
        onePiece = deterministic(whole.resolve("metrics.jsonl"));
        single = deterministic(out.resolve("metrics.jsonl"));
        singleAdapter = Files.readAllBytes(out.resolve("checkpoint-" + STEPS + "/adapter/adapter_model.safetensors"));
    }

    /** 4 prompts × 4 generations in micro-batches of 4: four slices possible; KL, LoRA dropout and the grader on. */
    static GrpoRecipe recipe() {
        ObjectNode r = JSON.createObjectNode();
        r.put("model_name_or_path", model.toString());
        r.put("dataset_path", data.toString());
        r.put("learning_rate", 5e-2);
        r.put("lr_scheduler_type", "constant");
        r.put("max_steps", STEPS);
        r.put("per_device_train_batch_size", 4);
        r.put("gradient_accumulation_steps", 4);
        r.put("num_generations", 4);
        r.put("max_completion_length", 5);
        r.put("temperature", 1.0);
        r.put("beta", 0.04);
        r.put("lora_r", 4);
        r.put("lora_alpha", 8);
        r.put("lora_dropout", 0.1);
        r.putArray("reward_funcs").add("format").add("accuracy");
        r.put("save_steps", STEPS);
        r.put("save_total_limit", 1);
        r.put("seed", 7);
        return GrpoRecipe.fromTree(r, "test recipe");
    }

    /** Metrics without wall-clock fields and without the Spark runner's own (which a single-process run has not). */
    static List<JsonNode> deterministic(Path metrics) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(metrics)) {
            ObjectNode n = (ObjectNode) JSON.readTree(line);
            for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (GrpoTrainer.isWallClock(f) || f.startsWith("spark_")) it.remove();
            }
            out.add(n);
        }
        return out;
    }

    static List<JsonNode> sparkRun(String name, String master, Map<String, String> conf) throws Exception {
        Path out = tmp.resolve(name);
        List<JsonNode> raw = new ArrayList<>();
        try (SparkCluster c = SparkCluster.open(master, conf)) {
            new GrpoTrainer(recipe(), out).runner(c.steps()).rolloutSlices(c.parallelism()).run(false, raw::add);
        }
        for (JsonNode m : raw) {
            assertTrue(m.path("spark_tasks").asLong() >= 2, "a step spread over tasks: " + m);
            for (String f : List.of("seconds_spark_scheduling", "seconds_spark_serialisation", "seconds_spark_broadcast")) {
                assertTrue(m.has(f) && m.get(f).asDouble() >= 0, f + " in " + m);
            }
        }
        assertArrayEquals(singleAdapter, Files.readAllBytes(out.resolve("checkpoint-" + STEPS + "/adapter/adapter_model.safetensors")),
                "the adapter after " + STEPS + " steps");
        return deterministic(out.resolve("metrics.jsonl"));
    }

    @Test
    void localModeLogsTheSameMetricsAsOneProcessBitForBit() throws Exception {
        int before = ExecutorWorkers.opened();
        List<JsonNode> spark = sparkRun("local2", "local[2]", Map.of());
        assertEquals(single, spark); // JSON numbers compared exactly: the same doubles
        // workers are opened once per concurrent task and kept across steps, not once per task
        int opened = ExecutorWorkers.opened() - before;
        assertTrue(opened >= 1 && opened <= 2, opened + " workers opened for " + STEPS + " steps × 2 tasks");
    }

    @Test
    void againstTheStepSampledInOnePieceOnlyLogProbabilityBitsDiffer() throws Exception {
        // the sampler's log-probs depend in the last bits on which rows share a wave; tokens, rewards and advantages do not
        assertEquals(onePiece.size(), single.size());
        for (int i = 0; i < single.size(); i++) {
            JsonNode a = onePiece.get(i), b = single.get(i);
            for (Iterator<String> it = a.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (f.equals("adapter_version")) continue; // a hash: any bit changes it
                if (a.get(f).isNumber()) {
                    double x = a.get(f).asDouble(), y = b.get(f).asDouble();
                    assertEquals(x, y, 1e-6 * Math.max(Math.abs(x), Math.abs(y)) + 1e-6, f + " of step " + (i + 1));
                } else assertEquals(a.get(f), b.get(f), f);
            }
            for (String f : List.of("tokens_generated", "reward", "completion_length")) assertEquals(a.get(f), b.get(f), f + " exactly");
        }
    }

    @Test
    void aTaskFailingOnItsFirstAttemptIsRetriedAndTheStepIsUnchanged() throws Exception {
        // local[2, 3]: two threads, up to three attempts per task; the second slice of every step dies once after its work
        List<JsonNode> spark = sparkRun("retried", "local[2,3]", Map.of(SparkStepRunner.FAIL_FIRST_ATTEMPT, "1"));
        assertEquals(single, spark);
    }

    @Test
    void mismatchedBuildsOnDriverAndExecutorsFailNamingBoth() {
        var e = assertThrows(ClusterException.class, () -> sparkRun("versions", "local[2]", Map.of(SparkStepRunner.DRIVER_VERSION, "0.0.0-other")));
        assertTrue(e.getMessage().contains("driver runs tina 0.0.0-other") && e.getMessage().contains("deploy the same build"), e.getMessage());
    }

    @Test
    void executorsWithoutTheModelFilesFailNamingThePath() {
        String missing = tmp.resolve("not-on-this-executor").toString();
        var e = assertThrows(ClusterException.class, () -> sparkRun("nomodel", "local[2]", Map.of(SparkStepRunner.EXECUTOR_MODEL, missing)));
        assertTrue(e.getMessage().contains("cannot open the model '" + missing + "'"), e.getMessage());
    }

    @Test
    void aWorkerWhoseTaskThrewIsClosedAndNotReused() throws Exception {
        List<int[]> workers = new ArrayList<>(); // {id, closed}
        ExecutorWorkers.Opener<AutoCloseable> opener = () -> {
            int[] w = {workers.size(), 0};
            workers.add(w);
            return () -> w[1] = 1;
        };
        assertThrows(IllegalStateException.class, () -> ExecutorWorkers.with("test:throws", opener, w -> {
            throw new IllegalStateException("task failed");
        }));
        assertEquals(1, workers.getFirst()[1], "the failed task's worker is closed");
        ExecutorWorkers.with("test:throws", opener, w -> null);
        ExecutorWorkers.with("test:throws", opener, w -> null);
        assertEquals(2, workers.size(), "one new worker, then reused");
        assertEquals(0, workers.get(1)[1]);
    }

    @Test
    void anUnreachableMasterFailsInSeconds() {
        long t0 = System.nanoTime();
        var e = assertThrows(IllegalArgumentException.class, () -> SparkCluster.open("spark://127.0.0.1:1", Map.of()));
        assertTrue(e.getMessage().contains("unreachable"), e.getMessage());
        assertTrue((System.nanoTime() - t0) / 1e9 < SparkCluster.CONNECT_TIMEOUT_MS / 1e3 + 2, "no hang");
        assertThrows(IllegalArgumentException.class, () -> SparkCluster.open("spark://127.0.0.1:notaport", Map.of()));
    }

    @Test
    void aTaskGivenAnotherAdapterVersionFails() throws Exception {
        try (SparkCluster c = SparkCluster.open("local[1]", Map.of())) {
            var plan = new StepPlan(0, "step-0-aaaaaaaaaaaa", List.of(new long[]{1, 2}), List.of("1"), 4, 4, 1);
            var stale = c.context().broadcast(new SparkStepRunner.Adapter("step-0-bbbbbbbbbbbb", 0, new LinkedHashMap<>()));
            var spec = new SparkStepRunner.TaskSpec("{}", ToolVersion.full(), -1, null);
            var e = assertThrows(IllegalStateException.class, () -> SparkStepRunner.runTask(spec, stale, plan.whole()));
            assertTrue(e.getMessage().contains("stale broadcast") && e.getMessage().contains("step-0-aaaaaaaaaaaa"), e.getMessage());
        }
    }
}
