package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.eval.run.Generated;
import dev.tina.eval.run.Generator;
import dev.tina.eval.tracking.EventFiles;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.init.RandomCheckpoint;
import dev.tina.training.ort.TrainingNatives;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code tina eval} end to end on a random-weight Qwen2 with the real Qwen tokenizer: every benchmark kind through
 * the batched sampler and the grader into the reports (answers are noise, which proves the plumbing, not the model);
 * resume after a crash inside the real sampler; bad input as one-line errors.
 */
class EvalCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir static Path tmp;
    static Path qwenTiny, adapter, gpqa, custom;

    @BeforeAll
    static void makeModelAndData() throws Exception {
        TrainingNatives.install(); // as TinaCommand.run does: one native runtime per process
        Path cfg = tmp.resolve("qwen-tiny.json");
        // context 4096: the math prompts through the chat template are up to a few hundred tokens; initializer_range 1
        // gives peaked logits (at the usual 0.02 they are flat, and top-p 0.95 then sorts most of the 152k vocabulary per token)
        Files.writeString(cfg, """
                {"architectures": ["Qwen2ForCausalLM"], "vocab_size": 151936, "hidden_size": 16, "intermediate_size": 32, "initializer_range": 1.0,
                 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-6,
                 "rope_theta": 10000.0, "tie_word_embeddings": true, "max_position_embeddings": 4096,
                 "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu"}""");
        qwenTiny = tmp.resolve("qwen-tiny");
        RandomCheckpoint.write(cfg, qwenTiny, DType.F32, 1, 1, false);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
            Files.copy(CommandsTest.SHARED.resolve("tokenizers/qwen2-bpe").resolve(f), qwenTiny.resolve(f));
        }
        adapter = tmp.resolve("my-lora");
        randomAdapter(ModelConfig.read(qwenTiny.resolve("config.json")), 4, 8, 3).write(adapter, ModelConfig.read(qwenTiny.resolve("config.json")));
        gpqa = tmp.resolve("gpqa_diamond.csv");
        Files.writeString(gpqa, """
                Record ID,Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3
                r1,Which of these is a noble gas?,Neon,Oxygen,Nitrogen,Carbon
                r2,"Which particle has no electric charge?",neutron,proton,electron,positron
                r3,What is the SI unit of force?,newton,joule,watt,pascal
                """);
        custom = tmp.resolve("mine.jsonl");
        Files.writeString(custom, """
                {"q": "What is 6 times 7?", "final": 42}
                {"q": "What is 2 to the 10th power?", "final": "1024"}
                {"q": "What is one half of one?", "final": "\\\\frac{1}{2}"}
                """);
    }

    record Run(int code, String out, String err) {}

    /** The command as TinaCommand runs it (its error handling: bad input is one line and exit 2). */
    static Run eval(EvalCommand command, String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            CommandLine cl = new CommandLine(command);
            cl.setExecutionExceptionHandler((e, c, parsed) -> {
                if (e instanceof IllegalArgumentException) {
                    c.getErr().println("tina eval: error: " + e.getMessage());
                    return 2;
                }
                if (e instanceof NoSuchFileException n) {
                    c.getErr().println("tina eval: error: no such file: " + n.getFile());
                    return 2;
                }
                c.getErr().println("tina eval: failed: " + e);
                return 1;
            });
            int code = cl.execute(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static Run eval(String... args) { return eval(new EvalCommand(), args); }

    static List<String> sortedLines(Path f) throws Exception {
        List<String> lines = new ArrayList<>(Files.readAllLines(f, StandardCharsets.UTF_8));
        Collections.sort(lines);
        return lines;
    }

    @Test
    void everyBenchmarkKindThroughTheSamplerGraderAndReports(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        Run r = eval("--model", qwenTiny.toString(), "--adapter", adapter.toString(),
                "--benchmarks", "aime24,aime25,amc23,math500,minerva,gsm8k,gpqa,mine", "--gpqa", gpqa.toString(),
                "--custom", "mine=" + custom + ",problem=q,answer=final", "--limit", "2", "--n-samples", "2", "--max-new-tokens", "24",
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("| model | AIME24 | AIME25 | AMC23 | MATH500 | Minerva | GSM8K | GPQA-D | mine | avg |"), r.out());
        assertTrue(r.out().contains("| base |") && r.out().contains("| my-lora |"), r.out());

        JsonNode report = JSON.readTree(out.resolve("report.json").toFile());
        assertEquals(2, report.get("results").size());
        for (JsonNode variant : report.get("results")) {
            assertEquals(8, variant.get("benchmarks").size());
            for (JsonNode b : variant.get("benchmarks")) {
                assertEquals(2, b.get("problems").asInt(), b.toString());
                assertEquals(4, b.get("samples").asInt(), b.toString());
                assertTrue(b.get("pass@1_ci95").size() == 2 && b.has("maj@k") && b.get("pass@k").has("2"), b.toString());
            }
            assertEquals(32, variant.at("/average/samples").asInt());
        }
        // provenance: model fingerprint from the export descriptor, adapter files hashed, settings, grader version
        JsonNode prov = report.get("provenance");
        String exportDir = prov.at("/model/export_dir").asText();
        assertEquals(ModelDescriptor.read(Path.of(exportDir)).source().get("fingerprint"), prov.at("/model/source_fingerprint").asText());
        assertEquals(sha256(adapter.resolve("adapter_model.safetensors")),
                report.at("/results/1/adapter/files_sha256").get("adapter_model.safetensors").asText());
        assertEquals(0.6, prov.at("/sampling/temperature").asDouble());
        assertEquals(0.95, prov.at("/sampling/top_p").asDouble());
        assertEquals(42, prov.at("/sampling/seed").asLong());
        assertEquals(24, prov.at("/sampling/max_new_tokens").asInt());
        assertTrue(prov.get("grader_version").asText().startsWith("tina-grader/"));
        assertTrue(prov.at("/prompt/chat_template").asBoolean());
        assertTrue(prov.at("/time/tokens_per_second").asDouble() > 0);

        // one line per sample, with everything needed to audit it
        int noAnswer = 0;
        for (String variant : List.of("base", "my-lora")) {
            List<String> lines = Files.readAllLines(out.resolve("samples/" + variant + ".jsonl"));
            assertEquals(8 * 2 * 2, lines.size());
            for (String line : lines) {
                JsonNode s = JSON.readTree(line);
                for (String f : List.of("benchmark", "problem_index", "problem_id", "sample_index", "prompt", "completion", "extracted", "verdict",
                        "correct", "tokens", "finish_reason")) {
                    assertTrue(s.has(f), f + " in " + line);
                }
                assertTrue(s.get("prompt").asText().startsWith("<|im_start|>"), "chat template applied: " + line);
                assertTrue(s.get("tokens").asInt() >= 1 && s.get("tokens").asInt() <= 24, line);
                if (s.get("verdict").asText().equals("no_answer")) noAnswer++;
                if (s.get("benchmark").asText().equals("gpqa")) assertTrue(s.get("gold").asText().matches("[ABCD]"), line);
            }
        }
        assertTrue(noAnswer > 0, "random weights give no answer: scored wrong, not an error");
        assertNotNull(ImageIO.read(out.resolve("report.png").toFile()));
        String md = Files.readString(out.resolve("report.md"));
        assertTrue(md.contains("## my-lora") && md.contains("## Provenance") && md.contains("percentile bootstrap"), md);

        JsonNode t = report.at("/provenance/time");
        System.out.printf(Locale.ROOT, "[eval timing] %d tokens in %.2f s of generation: %.1f tokens/s, %.3f s per 1,000 tokens (wall %.2f s, %d sessions)%n",
                t.get("tokens_generated").asLong(), t.get("generation_seconds").asDouble(), t.get("tokens_per_second").asDouble(),
                t.get("seconds_per_1000_tokens").asDouble(), t.get("wall_seconds").asDouble(), t.get("sessions").asInt());
    }

    /** Lets {@code after} completions through, then throws from inside the sampler's callback, as a crash would. */
    record Crashing(Generator inner, int after) implements Generator {
        @Override public String render(String m) { return inner.render(m); }

        @Override public int promptTokens(String m) { return inner.promptTokens(m); }

        @Override public int contextLength() { return inner.contextLength(); }

        @Override
        public void generate(List<String> messages, List<Pending> todo, int n, Consumer<Generated> onDone) throws Exception {
            AtomicInteger seen = new AtomicInteger();
            inner.generate(messages, todo, n, g -> {
                if (seen.incrementAndGet() > after) throw new IllegalStateException("simulated crash");
                onDone.accept(g);
            });
        }

        @Override public void close() { inner.close(); }
    }

    @Test
    void aRunInterruptedInsideTheSamplerResumesToTheSameSamplesAndReport(@TempDir Path dir) throws Exception {
        List<String> args = List.of("--model", qwenTiny.toString(), "--benchmarks", "aime24,gsm8k,mine", "--custom", "mine=" + custom + ",problem=q,answer=final",
                "--limit", "3", "--n-samples", "3", "--max-new-tokens", "12", "--batch-rows", "4");
        Path full = dir.resolve("full"), cut = dir.resolve("cut");
        assertEquals(0, eval(concat(args, "--out", full.toString())).code());

        EvalCommand crashing = new EvalCommand();
        crashing.wrapGenerator = g -> new Crashing(g, 7);
        Run crashed = eval(crashing, concat(args, "--out", cut.toString()));
        assertNotEquals(0, crashed.code());
        assertTrue(crashed.err().contains("simulated crash"), crashed.err());
        assertEquals(7, Files.readAllLines(cut.resolve("samples/base.jsonl")).size());

        Run resumed = eval(concat(args, "--out", cut.toString()));
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.err().contains("resuming, 7 samples on disk, 20 to make"), resumed.err());
        assertEquals(sortedLines(full.resolve("samples/base.jsonl")), sortedLines(cut.resolve("samples/base.jsonl")), "no sample lost, repeated or changed");
        JsonNode a = JSON.readTree(full.resolve("report.json").toFile()), b = JSON.readTree(cut.resolve("report.json").toFile());
        assertEquals(a.get("results"), b.get("results"));
        assertEquals(a.get("table"), b.get("table"));
        assertEquals(2, b.at("/timing/0/sessions").asInt());
        // the resumed pass made exactly the 20 missing samples, none twice
        JsonNode second = JSON.readTree(Files.readAllLines(cut.resolve("sessions.jsonl")).getLast());
        assertEquals(20, second.get("written").asInt(), second.toString());
        assertEquals(0, second.get("discarded_samples").asInt(), second.toString());
    }

    @Test
    void badInputIsOneLineNamingTheProblem(@TempDir Path dir) throws Exception {
        String model = qwenTiny.toString(), out = dir.resolve("o").toString();
        Run unknown = eval("--model", model, "--benchmarks", "aime24,aime2023", "--out", out);
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().contains("unknown benchmark 'aime2023'; available: aime24, aime25, amc23, math500, minerva, gsm8k, gpqa"), unknown.err());

        Path bad = dir.resolve("bad.jsonl");
        Files.writeString(bad, "{\"problem\": \"1+1?\", \"answer\": \"2\"}\n{\"problem\": \"2+2?\", \"answer\": \n");
        Run malformed = eval("--model", model, "--benchmarks", "bad", "--custom", "bad=" + bad, "--out", out);
        assertEquals(2, malformed.code());
        assertTrue(malformed.err().contains(bad + ":2: not valid JSON"), malformed.err());

        Path noGold = dir.resolve("nogold.jsonl");
        Files.writeString(noGold, "{\"problem\": \"1+1?\", \"answer\": \"2\"}\n{\"problem\": \"2+2?\"}\n");
        Run missing = eval("--model", model, "--benchmarks", "ng", "--custom", "ng=" + noGold, "--out", out);
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains(noGold + ":2: missing gold answer: missing field 'answer'"), missing.err());

        Run gated = eval("--model", model, "--benchmarks", "gpqa", "--out", out);
        assertEquals(2, gated.code());
        assertTrue(gated.err().contains("--gpqa FILE"), gated.err());

        Run tooLong = eval("--model", model, "--benchmarks", "aime24", "--limit", "1", "--max-new-tokens", "4090", "--out", out);
        assertEquals(2, tooLong.code());
        assertTrue(tooLong.err().contains("benchmarks/aime24/test.jsonl:1: the prompt of aime24 problem 60 has"), tooLong.err());
        assertTrue(tooLong.err().contains("the model's context is 4096"), tooLong.err());

        Run noChatTemplate = eval("--model", CommandsTest.SHARED.resolve("models/stories15M").toString(), "--benchmarks", "aime24", "--limit", "1", "--out", out);
        assertEquals(2, noChatTemplate.code());
        assertTrue(noChatTemplate.err().contains("tokenizer"), noChatTemplate.err());

        Run badSampling = eval("--model", model, "--benchmarks", "aime24", "--top-p", "1.5", "--out", out);
        assertEquals(2, badSampling.code());
        assertTrue(badSampling.err().contains("--top-p must be in (0, 1]"), badSampling.err());
    }

    @Test
    void tensorBoardHasARunPerVariantAtItsTrainingStep(@TempDir Path dir) throws Exception {
        Path checkpoint = dir.resolve("train/checkpoint-7/adapter");
        Files.createDirectories(checkpoint);
        try (var files = Files.list(adapter)) {
            for (Path f : files.toList()) Files.copy(f, checkpoint.resolve(f.getFileName()));
        }
        Path out = dir.resolve("tb");
        String[] args = {"--model", qwenTiny.toString(), "--adapter", checkpoint.toString(), "--benchmarks", "gsm8k,mine",
                "--custom", "mine=" + custom + ",problem=q,answer=final", "--limit", "2", "--n-samples", "2", "--max-new-tokens", "8",
                "--report-to", "jsonl,tensorboard", "--out", out.toString()};
        Run r = eval(args);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("tensorboard: tensorboard --logdir " + out.resolve("tensorboard")), r.out());
        JsonNode report = JSON.readTree(out.resolve("report.json").toFile());
        for (int pass = 0; pass < 2; pass++) { // the second run finds every sample on disk and rewrites the same events
            for (int v = 0; v < 2; v++) {
                JsonNode result = report.get("results").get(v);
                List<Path> files = EventFiles.list(out.resolve("tensorboard").resolve(result.get("variant").asText()));
                assertEquals(1, files.size(), files.toString());
                var events = EventFiles.read(files.getFirst());
                assertEquals(2, events.size(), "the file header and one event");
                assertEquals("brain.Event:2", events.getFirst().getFileVersion());
                assertEquals(v == 0 ? 0 : 7, events.get(1).getStep(), "base at 0, checkpoint-7 at its training step");
                Map<String, Float> scalars = new LinkedHashMap<>();
                String text = null;
                for (var value : events.get(1).getSummary().getValueList()) {
                    if (value.hasTensor()) text = value.getTensor().getStringVal(0).toStringUtf8();
                    else scalars.put(value.getTag(), value.getSimpleValue());
                }
                assertEquals(List.of("eval/gsm8k/pass@1", "eval/gsm8k/pass@2", "eval/gsm8k/maj@2", "eval/mine/pass@1", "eval/mine/pass@2",
                        "eval/mine/maj@2", "eval/avg/pass@1", "eval/avg/pass@2", "eval/avg/maj@2"), List.copyOf(scalars.keySet()));
                for (int b = 0; b < 2; b++) {
                    JsonNode score = result.get("benchmarks").get(b);
                    assertEquals((float) score.get("pass@1").asDouble(), scalars.get("eval/" + score.get("name").asText() + "/pass@1"));
                }
                assertEquals((float) result.at("/average/pass@1").asDouble(), scalars.get("eval/avg/pass@1"));
                assertTrue(text != null && text.startsWith("**gsm8k** problem ") && text.contains("\n**mine** problem ") && text.contains("\n    gold: "), text);
            }
            if (pass == 0) assertEquals(0, eval(args).code());
        }
        Run bad = eval("--model", qwenTiny.toString(), "--benchmarks", "gsm8k", "--report-to", "wandb", "--out", dir.resolve("bad").toString());
        assertEquals(2, bad.code());
        assertEquals("tina eval: error: --report-to: unknown value 'wandb', expected one of jsonl, tensorboard, none", bad.err().strip());
    }

    @Test
    void noChatSendsTheRawTemplateAndNoBaseEvaluatesOnlyTheAdapter(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("raw");
        Run r = eval("--model", qwenTiny.toString(), "--adapter", adapter.toString(), "--no-base", "--no-chat", "--benchmarks", "aime24",
                "--limit", "1", "--max-new-tokens", "2", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.exists(out.resolve("samples/base.jsonl")));
        JsonNode s = JSON.readTree(Files.readAllLines(out.resolve("samples/my-lora.jsonl")).getFirst());
        assertTrue(s.get("prompt").asText().startsWith("Solve the following math problem efficiently and clearly.  The last line"), s.toString());
        assertFalse(JSON.readTree(out.resolve("report.json").toFile()).at("/provenance/prompt/chat_template").asBoolean());
    }

    static String[] concat(List<String> args, String... more) {
        List<String> all = new ArrayList<>(args);
        all.addAll(List.of(more));
        return all.toArray(String[]::new);
    }

    static String sha256(Path f) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
    }

    static dev.tina.export.peft.PeftAdapter randomAdapter(ModelConfig c, int r, double alpha, long seed) {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(seed);
        java.util.Map<String, float[]> t = new java.util.LinkedHashMap<>();
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            for (dev.tina.export.checkpoint.Projection p : dev.tina.export.checkpoint.Projection.values()) {
                float[] a = new float[r * p.inFeatures(c)], b = new float[p.outFeatures(c) * r];
                for (int k = 0; k < a.length; k++) a[k] = (float) rng.nextDouble(-0.1, 0.1);
                for (int k = 0; k < b.length; k++) b[k] = (float) rng.nextDouble(-0.1, 0.1);
                t.put(dev.tina.export.peft.PeftAdapter.tensorName(i, p, 'A'), a);
                t.put(dev.tina.export.peft.PeftAdapter.tensorName(i, p, 'B'), b);
            }
        }
        return new dev.tina.export.peft.PeftAdapter(dev.tina.export.peft.LoraConfig.of(r, alpha, 0.0,
                java.util.List.of(dev.tina.export.checkpoint.Projection.values()), false), t, null);
    }
}
