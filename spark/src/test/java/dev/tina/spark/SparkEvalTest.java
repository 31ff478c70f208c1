package dev.tina.spark;

import dev.tina.testsupport.Shared;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.init.RandomCheckpoint;
import dev.tina.export.peft.LoraConfig;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.tools.Cli;
import dev.tina.training.ort.TrainingNatives;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code tina eval --spark local[2]} against {@code tina eval} on a random real-vocabulary model
 * (Qwen2 shape, the Qwen tokenizer) with a base and an adapter variant: the same samples (text,
 * tokens, verdicts) and the same scores; then {@code tina train --spark local[2]} from the command
 * line against {@code tina train --rollout-slices 2}.
 */
class SparkEvalTest {
    static {
        SparkCluster.configureLogging(); // before the grader loads log4j
        TrainingNatives.install();
    }
    static final Path SHARED = Shared.ROOT;
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir static Path tmp;
    static Path model, adapter, problems;

    @BeforeAll
    static void modelAndData() throws Exception {
        model = randomQwen(tmp);
        ModelConfig c = ModelConfig.read(model.resolve("config.json"));
        adapter = tmp.resolve("lora");
        SplittableRandom rng = new SplittableRandom(3);
        Map<String, float[]> t = new LinkedHashMap<>();
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            for (Projection p : Projection.values()) {
                float[] a = new float[4 * p.inFeatures(c)], b = new float[p.outFeatures(c) * 4];
                for (int k = 0; k < a.length; k++) a[k] = (float) rng.nextDouble(-0.1, 0.1);
                for (int k = 0; k < b.length; k++) b[k] = (float) rng.nextDouble(-0.1, 0.1);
                t.put(PeftAdapter.tensorName(i, p, 'A'), a);
                t.put(PeftAdapter.tensorName(i, p, 'B'), b);
            }
        }
        new PeftAdapter(LoraConfig.of(4, 8, 0.0, Arrays.asList(Projection.values()), false), t, null).write(adapter, c);
        problems = tmp.resolve("mine.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= 7; i++) sb.append("{\"q\": \"What is ").append(i).append(" times 7?\", \"final\": ").append(7 * i).append("}\n");
        Files.writeString(problems, sb);
    }

    /** A random one-layer Qwen2 with the real Qwen tokenizer (151,936 tokens, 4,096 positions) in {@code dir/qwen-tiny}. */
    static Path randomQwen(Path dir) throws Exception {
        Path cfg = dir.resolve("qwen-tiny.json");
        Files.writeString(cfg, """
                {"architectures": ["Qwen2ForCausalLM"], "vocab_size": 151936, "hidden_size": 16, "intermediate_size": 32, "initializer_range": 1.0,
                 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-6,
                 "rope_theta": 10000.0, "tie_word_embeddings": true, "max_position_embeddings": 4096,
                 "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu"}""");
        Path model = dir.resolve("qwen-tiny");
        RandomCheckpoint.write(cfg, model, DType.F32, 1, 1, false);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) Files.copy(SHARED.resolve("tokenizers/qwen2-bpe").resolve(f), model.resolve(f));
        return model;
    }

    static Cli.Run tina(String... args) { return Cli.tina(args); }

    static Cli.Run eval(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("eval", "--model", model.toString(), "--adapter", adapter.toString(),
                "--benchmarks", "mine", "--custom", "mine=" + problems + ",problem=q,answer=final", "--n-samples", "3",
                "--max-new-tokens", "12", "--batch-rows", "6", "--out", out.toString()));
        args.addAll(List.of(extra));
        Cli.Run r = tina(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        return r;
    }

    /** Every sample line of every variant, sorted (the order they finish in is not part of the result). */
    static List<String> samples(Path out) throws Exception {
        List<String> lines = new ArrayList<>();
        try (Stream<Path> s = Files.list(out.resolve("samples"))) {
            for (Path f : s.sorted().toList()) for (String l : Files.readAllLines(f)) lines.add(f.getFileName() + " " + l);
        }
        lines.sort(null);
        return lines;
    }

    /** report.json without its wall-clock parts. */
    static JsonNode scores(Path out) throws Exception {
        JsonNode n = JSON.readTree(out.resolve("report.json").toFile());
        scrub(n);
        return n;
    }

    static void scrub(JsonNode n) {
        if (n instanceof ObjectNode o) {
            for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
                String f = it.next().toLowerCase();
                if (f.contains("second") || f.contains("timing") || f.contains("time") || f.contains("started") || f.contains("finished")
                        || f.contains("path") || f.contains("dir")) it.remove();
            }
            o.forEach(SparkEvalTest::scrub);
        } else if (n.isArray()) n.forEach(SparkEvalTest::scrub);
    }

    @Test
    void evalOnLocalSparkGivesTheSameSamplesAndScores() throws Exception {
        Path plain = tmp.resolve("eval-plain"), spark = tmp.resolve("eval-spark");
        eval(plain);
        eval(spark, "--spark", "local[2]");
        List<String> a = samples(plain), b = samples(spark);
        assertEquals(2 * 7 * 3, a.size(), "base + adapter, 7 problems × 3 samples");
        assertEquals(a, b);
        assertEquals(scores(plain), scores(spark));
        // resume: nothing left to make, nothing changes
        eval(spark, "--spark", "local[2]");
        assertEquals(a, samples(spark));
    }

    @Test
    void trainOnLocalSparkFromTheCommandLineEqualsTheSameSlicesInOneProcess() throws Exception {
        Path data = tmp.resolve("train.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 16; i++) sb.append("{\"problem\": \"What is ").append(i).append(" + 1?\", \"answer\": \"").append(i + 1).append("\"}\n");
        Files.writeString(data, sb);
        Path recipe = tmp.resolve("recipe.yaml");
        Files.writeString(recipe, """
                model_name_or_path: %s
                dataset_path: %s
                learning_rate: 0.05
                lr_scheduler_type: constant
                max_steps: 2
                per_device_train_batch_size: 4
                gradient_accumulation_steps: 2
                num_generations: 4
                max_completion_length: 4
                beta: 0.04
                lora_r: 4
                lora_alpha: 8
                reward_funcs: [format]
                save_steps: 2
                seed: 3
                """.formatted(model, data));
        Path plain = tmp.resolve("train-plain"), spark = tmp.resolve("train-spark");
        Cli.Run p = tina("train", "--recipe", recipe.toString(), "--out", plain.toString(), "--rollout-slices", "2");
        assertEquals(0, p.code(), p.err());
        Cli.Run s = tina("train", "--recipe", recipe.toString(), "--out", spark.toString(), "--spark", "local[2]");
        assertEquals(0, s.code(), s.err());
        List<JsonNode> a = SparkTrainTest.deterministic(plain.resolve("metrics.jsonl")), b = SparkTrainTest.deterministic(spark.resolve("metrics.jsonl"));
        assertEquals(2, a.size());
        assertEquals(a, b);
        assertTrue(Files.readString(spark.resolve("metrics.jsonl")).contains("seconds_spark_scheduling"));
        // a driver that stops after step 1 (its last checkpoint) and is started again with --resume logs the same run
        Path resumed = tmp.resolve("train-resumed");
        Cli.Run first = tina("train", "--recipe", recipe.toString(), "--out", resumed.toString(), "--spark", "local[2]", "--max-steps", "1");
        assertEquals(0, first.code(), first.err());
        Cli.Run again = tina("train", "--recipe", recipe.toString(), "--out", resumed.toString(), "--spark", "local[2]", "--resume");
        assertEquals(0, again.code(), again.err());
        assertEquals(a, SparkTrainTest.deterministic(resumed.resolve("metrics.jsonl")));
        Cli.Run bad = tina("train", "--recipe", recipe.toString(), "--out", tmp.resolve("bad").toString(), "--spark", "spark://127.0.0.1:1");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("unreachable"), bad.err());
        assertFalse(bad.err().contains("\tat "), "one line, no stack trace: " + bad.err());
    }
}
