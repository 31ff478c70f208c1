package dev.tina.training.tiny;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.AtomicOutputDirectory;
import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.HfCheckpoint;
import dev.tina.export.checkpoint.SafetensorsWriter;
import dev.tina.export.init.RandomCheckpoint;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.optim.LoraTrainer;
import dev.tina.training.optim.LrSchedule;
import dev.tina.training.ort.GradientSession;
import dev.tina.training.graph.SftMicroBatch;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Makes the embedded model from nothing: a Qwen2-architecture decoder of about 0.8 M parameters,
 * random-initialised, then trained with full-parameter SFT (every weight, cross-entropy on the
 * assistant's tokens only) on a stream of {@link ArithmeticTask} examples, through the same
 * ONNX Runtime gradient graph and Java AdamW as the LoRA trainer. Every example is drawn fresh
 * from the seeded stream (no epochs); the held-out questions never appear.
 */
public final class TinyPretrainer {
    public record Settings(long seed, int steps, int batchSize, double learningRate, int warmupSteps) {
        public static Settings defaults() { return new Settings(1234, 3000, 64, 3e-3, 100); }
    }

    /** Called every {@code logEvery} steps with (step, mean loss since the last call, seconds so far). */
    public interface Progress { void step(long step, double loss, double seconds); }

    public record Result(Path modelDir, long steps, double finalLoss, double seconds, long parameters, List<double[]> lossCurve) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private TinyPretrainer() {}

    /** The architecture: Qwen2 (q/k/v biases, GQA, tied embeddings), small enough to train on a laptop CPU. */
    public static ObjectNode config() {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("Qwen2ForCausalLM");
        c.put("model_type", "qwen2");
        c.put("vocab_size", ByteTokenizer.VOCAB);
        c.put("hidden_size", 128);
        c.put("intermediate_size", 384);
        c.put("num_hidden_layers", 4);
        c.put("num_attention_heads", 4);
        c.put("num_key_value_heads", 2);
        c.put("hidden_act", "silu");
        c.put("max_position_embeddings", 256);
        c.put("rms_norm_eps", 1e-6);
        c.put("rope_theta", 10000.0);
        c.put("tie_word_embeddings", true);
        c.put("use_sliding_window", false);
        c.put("initializer_range", 0.02);
        c.put("bos_token_id", ByteTokenizer.ENDOFTEXT_ID);
        c.put("eos_token_id", ByteTokenizer.IM_END_ID);
        c.put("torch_dtype", "float32");
        return c;
    }

    static ObjectNode generationConfig() {
        ObjectNode g = JSON.createObjectNode();
        g.put("do_sample", true);
        g.put("temperature", HeldOutEval.TEMPERATURE);
        g.put("top_p", HeldOutEval.TOP_P);
        g.put("eos_token_id", ByteTokenizer.IM_END_ID);
        g.put("pad_token_id", ByteTokenizer.ENDOFTEXT_ID);
        g.put("max_new_tokens", HeldOutEval.maxNewTokens());
        return g;
    }

    /** Writes the HF folder {@code out} (atomically): weights, config, generation config, tokenizer. */
    public static Result run(Path out, Path work, Settings s, int logEvery, Progress progress) throws Exception {
        long t0 = System.nanoTime();
        Files.createDirectories(work);
        Path init = work.resolve("init"), export = work.resolve("export");
        Path cfgFile = work.resolve("config.json");
        Files.writeString(cfgFile, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config()), StandardCharsets.UTF_8);
        RandomCheckpoint.write(cfgFile, init, DType.F32, 1, s.seed(), true);
        ByteTokenizer.write(init);
        DecoderExporter.export(init, export, new DecoderExporter.Options(DType.F32, List.of(), true));
        Map<String, long[]> shapes = new LinkedHashMap<>();
        var graph = TrainingGraph.fullGradientGraph(export, new LossHead.Sft(), "full-sft.onnx", shapes);
        Map<String, float[]> weights = new LinkedHashMap<>();
        try (HfCheckpoint ckpt = HfCheckpoint.open(init)) {
            for (String p : graph.params()) weights.put(p, ckpt.tensors().get(p).toFloatArray());
        }
        long params = weights.values().stream().mapToLong(w -> w.length).sum();
        Set<String> heldOut = ArithmeticTask.heldOutQuestions();
        SplittableRandom rnd = new SplittableRandom(s.seed());
        List<double[]> curve = new ArrayList<>();
        double finalLoss;
        try (GradientSession gs = new GradientSession(graph, shapes);
             dev.tina.runtime.text.HfTokenizer tok = dev.tina.runtime.text.HfTokenizer.open(init)) {
            var settings = new LoraTrainer.Settings(s.learningRate(), new LrSchedule.Cosine(0.1), s.steps(), s.warmupSteps(), 1.0,
                    0.9, 0.98, 1e-8, 0.0);
            LoraTrainer trainer = new LoraTrainer(gs, weights, settings);
            double sum = 0;
            int count = 0;
            finalLoss = Double.NaN;
            for (int step = 1; step <= s.steps(); step++) {
                List<ArithmeticTask.Example> batch = new ArrayList<>();
                while (batch.size() < s.batchSize()) {
                    ArithmeticTask.Example e = ArithmeticTask.example(rnd, ArithmeticTask.PRETRAIN);
                    if (!heldOut.contains(e.problem().question())) batch.add(e);
                }
                double loss = trainer.step(List.of(sftBatch(tok, batch))).loss();
                sum += loss;
                count++;
                if (step % logEvery == 0 || step == s.steps()) {
                    double secs = (System.nanoTime() - t0) / 1e9;
                    finalLoss = sum / count;
                    curve.add(new double[]{step, finalLoss});
                    progress.step(step, finalLoss, secs);
                    sum = 0;
                    count = 0;
                }
            }
            weights = trainer.weights();
        }
        writeModel(out, weights, shapes);
        return new Result(out, s.steps(), finalLoss, (System.nanoTime() - t0) / 1e9, params, curve);
    }

    /** Prompt + solution + {@code <|im_end|>}, right-padded; the loss is the token mean over the assistant's tokens. */
    static SftMicroBatch sftBatch(dev.tina.runtime.text.HfTokenizer tok, List<ArithmeticTask.Example> examples) {
        int b = examples.size();
        long[][] rows = new long[b][];
        int[] promptLen = new int[b];
        int len = 0, targets = 0;
        for (int i = 0; i < b; i++) {
            long[] prompt = tok.encode(HeldOutEval.promptText(examples.get(i).problem().question()));
            long[] answer = tok.encode(examples.get(i).completion() + ByteTokenizer.IM_END);
            rows[i] = new long[prompt.length + answer.length];
            System.arraycopy(prompt, 0, rows[i], 0, prompt.length);
            System.arraycopy(answer, 0, rows[i], prompt.length, answer.length);
            promptLen[i] = prompt.length;
            len = Math.max(len, rows[i].length);
            targets += answer.length;
        }
        long[] ids = new long[b * len], mask = new long[b * len], pos = new long[b * len];
        long[] tp = new long[targets], ti = new long[targets];
        float[] w = new float[targets];
        int k = 0;
        for (int i = 0; i < b; i++) {
            for (int t = 0; t < len; t++) {
                boolean real = t < rows[i].length;
                ids[i * len + t] = real ? rows[i][t] : ByteTokenizer.ENDOFTEXT_ID;
                mask[i * len + t] = real ? 1 : 0;
                pos[i * len + t] = t;
            }
            for (int t = promptLen[i] - 1; t < rows[i].length - 1; t++, k++) {
                tp[k] = (long) i * len + t;
                ti[k] = rows[i][t + 1];
                w[k] = 1f / targets;
            }
        }
        return new SftMicroBatch(b, len, ids, mask, pos, tp, ti, w, 1f, 1f, null);
    }

    static void writeModel(Path out, Map<String, float[]> weights, Map<String, long[]> shapes) throws IOException {
        List<SafetensorsWriter.Planned> tensors = new ArrayList<>();
        for (var e : new java.util.TreeMap<>(weights).entrySet()) {
            tensors.add(SafetensorsWriter.Planned.f32(e.getKey(), shapes.get(e.getKey()), e.getValue()));
        }
        try (AtomicOutputDirectory dir = new AtomicOutputDirectory(out, true)) {
            SafetensorsWriter.writeCheckpoint(dir.path(), tensors, 1);
            Files.writeString(dir.path().resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config()));
            Files.writeString(dir.path().resolve("generation_config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(generationConfig()));
            ByteTokenizer.write(dir.path());
            dir.commit();
        }
    }
}
