package dev.tina.eval.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.eval.Evaluation;
import dev.tina.eval.bench.Benchmark;
import dev.tina.eval.bench.Catalog;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Resume, with a stand-in generator (the real sampler's resume is proven in EvalCommandTest): interrupted after
 * N samples, or with its sample file cut mid-line, a run finished by a second invocation writes the same samples
 * and the same report as one that was never interrupted; no sample lost or repeated.
 */
class ResumeTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static Path customFile;
    @TempDir static Path shared;

    /** Completions that are a function of (seed, index, sample) only, delivered in a scrambled order per group of {@code wave} like the real sampler's. */
    static final class FakeGenerator implements Generator {
        final long seed;
        final int wave;
        final AtomicInteger generated = new AtomicInteger();

        FakeGenerator(long seed, int wave) {
            this.seed = seed;
            this.wave = wave;
        }

        @Override public String render(String message) { return "<user>" + message + "<assistant>"; }

        @Override public int promptTokens(String message) { return message.length() / 4; }

        @Override public int contextLength() { return 1 << 20; }

        static String text(long seed, int i, int s) {
            SplittableRandom r = new SplittableRandom(seed * 1_000_003L + i * 131L + s);
            return switch (r.nextInt(5)) {
                case 0 -> "I am not sure."; // no answer: scored wrong, not an error
                case 1 -> "Therefore, the final answer is: $\\boxed{" + r.nextInt(3) + "}$. I hope it is correct";
                case 2 -> "so it is \\boxed{\\frac{" + (2 * r.nextInt(2)) + "}{2}}";
                case 3 -> "The final answer is " + r.nextInt(3);
                default -> "the answer: \\boxed{0.5}";
            };
        }

        @Override
        public void generate(List<String> messages, List<Pending> todo, int n, Consumer<Generated> onDone) {
            List<int[]> all = new ArrayList<>();
            for (Pending p : todo) for (int s : p.samples()) all.add(new int[]{p.index(), s});
            for (int start = 0; start < all.size(); start += wave) {
                List<int[]> pairs = new ArrayList<>(all.subList(start, Math.min(all.size(), start + wave)));
                Collections.shuffle(pairs, new java.util.Random(start));
                for (int[] p : pairs) {
                    String t = text(seed, p[0], p[1]);
                    generated.incrementAndGet();
                    onDone.accept(new Generated(p[0], p[1], t, t.length() / 3 + 1, p[1] == 2 ? "length" : "stop"));
                }
            }
        }
    }

    /** Throws after {@code n} completions: a crash in the middle of a wave. */
    record Interrupting(Generator inner, int after) implements Generator {
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
    }

    @BeforeAll
    static void data() throws Exception {
        customFile = shared.resolve("tiny.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 7; i++) sb.append("{\"problem\": \"Problem ").append(i).append("\", \"answer\": \"").append(i % 3 == 2 ? "1/2" : i % 3).append("\"}\n");
        Files.writeString(customFile, sb);
    }

    static final EvalSettings SETTINGS = new EvalSettings(4, 100, 0.6, 0.95, 42, true, null, 5, 8, "cpu");
    static final ModelInfo MODEL = new ModelInfo("fake", "fake-export", "f1ngerpr1nt", "Fake");

    static Evaluation.Data data(int limit) throws Exception {
        List<Benchmark> bs = Catalog.resolve(List.of("tiny", "aime24"), null, List.of(Catalog.parseCustom("tiny=" + customFile)));
        return Evaluation.load(bs, limit);
    }

    static JsonNode run(Path out, Generator gen) throws Exception {
        Evaluation.run(out, SETTINGS, MODEL, data(SETTINGS.limit()), List.of(Variant.base()), v -> gen, Evaluation.Listener.QUIET, Duration.ofSeconds(5));
        return JSON.readTree(out.resolve("report.json").toFile());
    }

    static List<String> sortedLines(Path f) throws Exception {
        List<String> lines = new ArrayList<>(Files.readAllLines(f, StandardCharsets.UTF_8));
        Collections.sort(lines);
        return lines;
    }

    @Test
    void interruptedThenResumedEqualsUninterrupted(@TempDir Path dir) throws Exception {
        Path full = dir.resolve("full"), cut = dir.resolve("cut");
        JsonNode reference = run(full, new FakeGenerator(42, 8));
        List<String> referenceLines = sortedLines(full.resolve("samples/base.jsonl"));
        assertEquals(10 * 4, referenceLines.size()); // 5 + 5 problems × 4 samples

        var e = assertThrows(IllegalStateException.class, () -> run(cut, new Interrupting(new FakeGenerator(42, 8), 13)));
        assertEquals("simulated crash", e.getMessage());
        assertEquals(13, Files.readAllLines(cut.resolve("samples/base.jsonl")).size(), "every sample finished before the crash is on disk");
        assertFalse(Files.exists(cut.resolve("report.json")));

        FakeGenerator resumed = new FakeGenerator(42, 8);
        JsonNode report = run(cut, resumed);
        assertEquals(referenceLines, sortedLines(cut.resolve("samples/base.jsonl")), "same samples, none lost or repeated");
        assertEquals(reference.get("results"), report.get("results"));
        assertEquals(reference.get("table"), report.get("table"));
        // it made exactly the missing samples, nothing twice
        assertEquals(40 - 13, resumed.generated.get());
        List<String> sessions = Files.readAllLines(cut.resolve("sessions.jsonl"));
        assertEquals(2, sessions.size());
        assertFalse(JSON.readTree(sessions.get(0)).get("completed").asBoolean());
        assertEquals(2, report.at("/timing/0/sessions").asInt());

        // a third invocation finds nothing to do and reports the same
        FakeGenerator idle = new FakeGenerator(42, 8);
        assertEquals(reference.get("results"), run(cut, idle).get("results"));
        assertEquals(0, idle.generated.get());
    }

    @Test
    void aTornLastLineIsRegeneratedAndAMalformedLineInsideIsAnError(@TempDir Path dir) throws Exception {
        Path full = dir.resolve("full"), torn = dir.resolve("torn");
        JsonNode reference = run(full, new FakeGenerator(42, 8));
        Path samples = torn.resolve("samples/base.jsonl");
        assertThrows(IllegalStateException.class, () -> run(torn, new Interrupting(new FakeGenerator(42, 8), 21)));
        // the process died in the middle of writing line 22
        List<String> lines = Files.readAllLines(samples);
        String half = sortedLines(full.resolve("samples/base.jsonl")).stream().filter(l -> !lines.contains(l)).findFirst().orElseThrow();
        Files.writeString(samples, half.substring(0, half.length() / 2), java.nio.file.StandardOpenOption.APPEND);
        JsonNode report = run(torn, new FakeGenerator(42, 8));
        assertEquals(reference.get("results"), report.get("results"));
        assertEquals(sortedLines(full.resolve("samples/base.jsonl")), sortedLines(samples));

        // a damaged line that is not the last one is not dropped silently: the error names file and line
        List<String> now = new ArrayList<>(Files.readAllLines(samples));
        now.set(4, now.get(4).substring(0, 30));
        Files.write(samples, now);
        var e = assertThrows(IllegalArgumentException.class, () -> run(torn, new FakeGenerator(42, 8)));
        assertTrue(e.getMessage().startsWith(samples + ":5: malformed sample line"), e.getMessage());
    }

    @Test
    void resumingWithOtherSettingsIsRefused(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        run(out, new FakeGenerator(42, 8));
        EvalSettings hotter = new EvalSettings(4, 100, 0.7, 0.95, 42, true, null, 5, 8, "cpu");
        var e = assertThrows(IllegalArgumentException.class, () -> Evaluation.run(out, hotter, MODEL, data(5), List.of(Variant.base()),
                v -> new FakeGenerator(42, 8), Evaluation.Listener.QUIET, Duration.ofSeconds(5)));
        assertTrue(e.getMessage().contains("temperature = 0.6, this command has 0.7"), e.getMessage());
        var limit = assertThrows(IllegalArgumentException.class, () -> Evaluation.run(out, SETTINGS, MODEL, data(6), List.of(Variant.base()),
                v -> new FakeGenerator(42, 8), Evaluation.Listener.QUIET, Duration.ofSeconds(5)));
        assertTrue(limit.getMessage().contains("run.json"), limit.getMessage());
    }

    @Test
    void answersAreGradedAndNoAnswerIsScoredWrong(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        JsonNode report = run(out, new FakeGenerator(7, 64));
        int noAnswer = 0, correct = 0;
        for (String line : Files.readAllLines(out.resolve("samples/base.jsonl"))) {
            JsonNode s = JSON.readTree(line);
            assertTrue(s.get("prompt").asText().startsWith("<user>Solve the following math problem"), line);
            if (s.get("completion").asText().equals("I am not sure.")) {
                assertEquals("no_answer", s.get("verdict").asText());
                assertFalse(s.get("correct").asBoolean());
                assertTrue(s.get("extracted").isNull());
                noAnswer++;
            }
            if (s.get("completion").asText().endsWith("\\boxed{0.5}") && s.get("gold").asText().equals("1/2")) {
                assertTrue(s.get("correct").asBoolean(), line);
                assertEquals("1/2", s.get("answer_key").asText()); // canonical, so 0.5 and \frac{1}{2} vote together
            }
            if (s.get("correct").asBoolean()) correct++;
        }
        assertTrue(noAnswer > 0 && correct > 0, noAnswer + " " + correct);
        JsonNode tiny = report.at("/results/0/benchmarks/0");
        assertEquals("tiny", tiny.get("name").asText());
        assertEquals(20, tiny.get("samples").asInt());
        assertEquals(List.of("1", "2", "4"), iterToList(tiny.get("pass@k").fieldNames()));
        assertTrue(tiny.get("pass@k").get("4").asDouble() >= tiny.get("pass@1").asDouble());
        assertEquals(tiny.get("pass@1").asDouble(), tiny.get("pass@k").get("1").asDouble(), 1e-12);
        assertEquals(List.of("tiny", "AIME24", "avg"), iterToList(report.at("/table/columns").elements()).stream().map(JsonNode::asText).toList());
        assertTrue(Files.size(out.resolve("report.png")) > 1000);
        assertNotNull(javax.imageio.ImageIO.read(out.resolve("report.png").toFile()));
        String keep = System.getProperty("tina.charts.dir"); // to look at the chart
        if (keep != null) Files.copy(out.resolve("report.png"), Files.createDirectories(Path.of(keep)).resolve("eval-report.png"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        String md = Files.readString(out.resolve("report.md"));
        assertTrue(md.contains("| model | tiny | AIME24 | avg |"), md);
        assertTrue(md.contains("tina-grader/"), md);
        assertTrue(md.contains("f1ngerpr1nt"), md);
    }

    static <T> List<T> iterToList(java.util.Iterator<T> it) {
        List<T> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
