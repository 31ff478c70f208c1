package dev.tina.eval.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.eval.Evaluation;
import dev.tina.eval.bench.Benchmark;
import dev.tina.eval.bench.Catalog;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.testsupport.Shared;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Evaluation through one continuous scheduler on the embedded model: every sample (text, token count, finish
 * reason, grade) equals the earlier wave-per-call path's and each prompt generated alone; a subset of pending pairs
 * gives exactly those samples; a run interrupted inside the scheduler and resumed equals an uninterrupted one.
 */
class ContinuousEvalTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final int N = 3, ROWS = 4;
    @TempDir static Path tmp;
    static LoadedModel model;
    static BatchSampler sampler;
    static Path arith, arith2;
    /** Temperature 0.6, top-p 0.95 as the paper; 40 new tokens; EOS stops. */
    static SamplingParams params;

    @BeforeAll
    static void setUp() throws Exception {
        // the embedded model with a longer context: Tina's math prompt (~400 byte tokens) does not fit its 256 positions;
        // past them the answers are noise, which is all an equality test needs (RoPE has no learned positions)
        Path tiny = Shared.REPO.resolve("onnx-models/tiny-reasoner"), copy = tmp.resolve("tiny-reasoner-1k");
        Files.createDirectories(copy);
        try (Stream<Path> files = Files.list(tiny)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) Files.copy(f, copy.resolve(f.getFileName()));
        }
        ObjectNode config = (ObjectNode) JSON.readTree(copy.resolve("config.json").toFile());
        config.put("max_position_embeddings", 1024);
        Files.writeString(copy.resolve("config.json"), JSON.writeValueAsString(config));
        model = LoadedModel.open(copy, SessionSettings.of(SessionSettings.Device.CPU));
        sampler = model.sampler(ROWS);
        params = new SamplingParams(1, 0.6, 0.95, 0, 0, 40, List.of(), Set.copyOf(model.defaults().eosTokenIds()), 42);
        arith = problems("arith.jsonl", 5, 1);
        arith2 = problems("arith2.jsonl", 4, 2);
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (sampler != null) sampler.close();
        if (model != null) model.close();
    }

    static Path problems(String name, int count, long seed) throws Exception {
        SplittableRandom r = new SplittableRandom(seed);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < count; i++) {
            int a = r.nextInt(10, 99), b = r.nextInt(10, 99), c = r.nextInt(10, 99);
            sb.append("{\"problem\": \"What is ").append(a).append('+').append(b).append('-').append(c).append("?\", \"answer\": \"")
                    .append(a + b - c).append("\"}\n");
        }
        Path f = tmp.resolve(name);
        Files.writeString(f, sb);
        return f;
    }

    static SamplerGenerator generator(BatchSampler.Scheduling scheduling) throws Exception {
        return new SamplerGenerator(model, sampler, model.adapter(null), params, true, null, ROWS, scheduling);
    }

    /** Plain arithmetic questions through the chat template: what the embedded model answers, with natural lengths. */
    static List<String> questions() {
        List<String> q = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < 11; i++) q.add("What is " + r.nextInt(10, 99) + "+" + r.nextInt(10, 99) + "-" + r.nextInt(10, 99) + "?");
        return q;
    }

    static Map<String, Generated> generate(SamplerGenerator g, List<String> messages, List<Generator.Pending> todo) throws Exception {
        Map<String, Generated> out = new ConcurrentHashMap<>();
        g.generate(messages, todo, N, s -> assertNull(out.put(s.index() + "/" + s.sample(), s), "twice: " + s));
        return new TreeMap<>(out);
    }

    @Test
    void continuousEqualsTheWavePathAndEachPromptAlone() throws Exception {
        List<String> messages = questions();
        List<Generator.Pending> all = Generator.Pending.all(0, messages.size(), N);
        Map<String, Generated> waves = generate(generator(BatchSampler.Scheduling.WAVES), messages, all);
        Map<String, Generated> continuous = generate(generator(BatchSampler.Scheduling.CONTINUOUS), messages, all);
        assertEquals(messages.size() * N, waves.size());
        assertEquals(waves, continuous, "same text, token count and finish reason for every (problem, sample)");

        // the oracle independent of any batching: each prompt alone, its streams (seed, i, s)
        for (int i = 0; i < messages.size(); i++) {
            long[] ids = model.encodePrompt(messages.get(i), true, null);
            List<Completion> alone = sampler.generate(List.of(ids), params.withN(N).withSeed(SamplerGenerator.shiftedSeed(params.seed(), i)),
                    model.adapter(null));
            for (Completion c : alone) {
                Generated g = continuous.get(i + "/" + c.sampleIndex());
                assertEquals(c.text(), g.text(), "problem " + i + " sample " + c.sampleIndex());
                assertEquals(c.tokenIds().length, g.tokens());
                assertEquals(c.finishReason().wire(), g.finish());
            }
        }
        // lengths differ, so rows left and joined at different steps: slots were reused mid-run
        Set<Integer> lengths = new TreeSet<>();
        for (Generated g : continuous.values()) lengths.add(g.tokens());
        assertTrue(lengths.size() >= 4, "lengths " + lengths);
        assertTrue(continuous.values().stream().anyMatch(g -> g.finish().equals("stop")), "some completions end at EOS");
    }

    @Test
    void onlyThePendingPairsAreMadeAndTheyEqualTheFullRunsOnes() throws Exception {
        List<String> messages = questions();
        Map<String, Generated> full = generate(generator(BatchSampler.Scheduling.CONTINUOUS), messages, Generator.Pending.all(0, messages.size(), N));
        List<Generator.Pending> some = List.of(new Generator.Pending(1, new int[]{2}), new Generator.Pending(4, new int[]{0, 2}),
                new Generator.Pending(5, new int[]{0, 1, 2}), new Generator.Pending(10, new int[]{1}));
        for (BatchSampler.Scheduling s : BatchSampler.Scheduling.values()) {
            Map<String, Generated> part = generate(generator(s), messages, some);
            assertEquals(List.of("1/2", "10/1", "4/0", "4/2", "5/0", "5/1", "5/2"), List.copyOf(part.keySet()), s.name());
            for (var e : part.entrySet()) assertEquals(full.get(e.getKey()), e.getValue(), s + " " + e.getKey());
        }
    }

    static final EvalSettings SETTINGS = new EvalSettings(N, 40, 0.6, 0.95, 42, true, null, 0, ROWS, "cpu");
    static final ModelInfo INFO = new ModelInfo("tiny-reasoner-1k", "export", "fingerprint", "Qwen2");

    static Evaluation.Data data() throws Exception {
        List<Benchmark> bs = Catalog.resolve(List.of("arith", "arith2"), null,
                List.of(Catalog.parseCustom("arith=" + arith), Catalog.parseCustom("arith2=" + arith2)));
        return Evaluation.load(bs, 0);
    }

    static JsonNode run(Path out, Evaluation.Generators generators) throws Exception {
        Evaluation.run(out, SETTINGS, INFO, data(), List.of(Variant.base()), generators, Evaluation.Listener.QUIET, Duration.ofSeconds(5));
        return JSON.readTree(out.resolve("report.json").toFile());
    }

    @Test
    void aWholeEvaluationGradesTheSameSamplesAndAnInterruptedOneResumesToThem(@TempDir Path dir) throws Exception {
        Path waves = dir.resolve("waves"), continuous = dir.resolve("continuous"), cut = dir.resolve("cut");
        JsonNode a = run(waves, v -> generator(BatchSampler.Scheduling.WAVES));
        JsonNode b = run(continuous, v -> generator(BatchSampler.Scheduling.CONTINUOUS));
        List<String> reference = ResumeTest.sortedLines(Evaluation.samplesFile(waves, Variant.base()));
        assertEquals(9 * N, reference.size());
        // every line: completion, tokens, finish reason, extracted answer, verdict, correct
        assertEquals(reference, ResumeTest.sortedLines(Evaluation.samplesFile(continuous, Variant.base())));
        assertEquals(a.get("results"), b.get("results"));

        // interrupted after 7 samples, from inside the scheduler's callback
        assertThrows(IllegalStateException.class, () -> run(cut, v -> new ResumeTest.Interrupting(generator(BatchSampler.Scheduling.CONTINUOUS), 7)));
        assertEquals(7, Files.readAllLines(Evaluation.samplesFile(cut, Variant.base())).size());
        JsonNode resumed = run(cut, v -> generator(BatchSampler.Scheduling.CONTINUOUS));
        assertEquals(reference, ResumeTest.sortedLines(Evaluation.samplesFile(cut, Variant.base())), "none lost, repeated or changed");
        assertEquals(a.get("results"), resumed.get("results"));
        JsonNode second = JSON.readTree(Files.readAllLines(cut.resolve("sessions.jsonl")).getLast());
        assertEquals(9 * N - 7, second.get("written").asInt(), second.toString());
        assertEquals(0, second.get("discarded_samples").asInt(), "only the missing samples were made: " + second);
    }
}
