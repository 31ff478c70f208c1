package dev.tina.eval.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Shipped benchmarks, GPQA from a user file, custom JSONL, and the errors for bad input. */
class CatalogTest {

    @Test
    void shippedBenchmarksLoadWithTheirGoldsAndIds() throws Exception {
        Map<String, Integer> sizes = Map.of("aime24", 30, "aime25", 30, "amc23", 40, "math500", 500, "minerva", 272, "gsm8k", 1319);
        for (Benchmark b : Catalog.resolve(List.of("aime24", "aime25", "amc23", "math500", "minerva", "gsm8k"), null, List.of())) {
            List<Problem> ps = b.load(0);
            assertEquals(sizes.get(b.name()), ps.size(), b.name());
            for (Problem p : ps) {
                assertTrue(p.message().startsWith(PromptTemplates.MATH_PREFIX), p.origin());
                assertFalse(p.gold().isBlank(), p.origin());
            }
            assertEquals(64, b.sha256().length());
        }
        List<Problem> aime = Catalog.resolve(List.of("AIME24"), null, List.of()).getFirst().load(2);
        assertEquals(2, aime.size());
        assertEquals("60", aime.getFirst().id());
        assertEquals("204", aime.getFirst().gold());          // 'answer' as written
        Problem amc = Catalog.resolve(List.of("amc23"), null, List.of()).getFirst().load(1).getFirst();
        assertEquals("27", amc.gold());                        // 27.0 means 27
        Problem math = Catalog.resolve(List.of("MATH-500"), null, List.of()).getFirst().load(1).getFirst();
        assertEquals("\\left( 3, \\frac{\\pi}{2} \\right)", math.gold()); // last \boxed{} of the solution
        assertEquals("test/precalculus/807.json", math.id());
        Problem gsm = Catalog.resolve(List.of("gsm8k"), null, List.of()).getFirst().load(1).getFirst();
        assertEquals("18", gsm.gold());
        assertEquals("0", gsm.id());
        assertTrue(gsm.message().endsWith("farmers' market?"));
        assertEquals("minerva", Catalog.resolve(List.of("minerva_math"), null, List.of()).getFirst().name());
    }

    @Test
    void theMathPromptIsTinasTemplateVerbatim() {
        assertEquals("Solve the following math problem efficiently and clearly.  The last line of your response should be of the following format: "
                + "'Therefore, the final answer is: $\\boxed{ANSWER}$. I hope it is correct' (without quotes) where ANSWER is just the final number "
                + "or expression that solves the problem. Think step by step before answering.\n\nWhat is 1+1?", PromptTemplates.math("What is 1+1?"));
    }

    @Test
    void unknownBenchmarkListsTheAvailableOnes() {
        var e = assertThrows(IllegalArgumentException.class, () -> Catalog.resolve(List.of("aime24", "aime2023x"), null, List.of()));
        assertTrue(e.getMessage().contains("unknown benchmark 'aime2023x'"), e.getMessage());
        for (String n : List.of("aime24", "aime25", "amc23", "math500", "minerva", "gsm8k", "gpqa")) assertTrue(e.getMessage().contains(n), e.getMessage());
        var g = assertThrows(IllegalArgumentException.class, () -> Catalog.resolve(List.of("gpqa"), null, List.of()));
        assertTrue(g.getMessage().contains("--gpqa FILE"), g.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Catalog.resolve(List.of("aime24", "AIME-24"), null, List.of()));
    }

    @Test
    void malformedJsonlNamesTheLine(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("mine.jsonl");
        Files.writeString(f, "{\"problem\": \"1+1?\", \"answer\": \"2\"}\n\n{\"problem\": \"2+2?\", \"answer\": 4\n");
        Benchmark.Custom c = Catalog.parseCustom("mine=" + f);
        var e = assertThrows(IllegalArgumentException.class, () -> c.load(0));
        assertTrue(e.getMessage().startsWith(f + ":3: not valid JSON"), e.getMessage());
    }

    @Test
    void customFieldMappingAndMissingGold(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("q.jsonl");
        Files.writeString(f, """
                {"q": "What is 6*7?", "final": 42, "key": "a"}
                {"q": "What is 2^10?", "final": "1024", "key": "b"}
                """);
        Benchmark.Custom c = Catalog.parseCustom("mine=" + f + ",problem=q,answer=final,id=key");
        List<Benchmark> bs = Catalog.resolve(List.of("mine"), null, List.of(c));
        List<Problem> ps = bs.getFirst().load(0);
        assertEquals(List.of("42", "1024"), ps.stream().map(Problem::gold).toList());
        assertEquals(List.of("a", "b"), ps.stream().map(Problem::id).toList());
        assertEquals(PromptTemplates.math("What is 6*7?"), ps.getFirst().message());

        Path sol = dir.resolve("s.jsonl");
        Files.writeString(sol, "{\"problem\": \"x\", \"solution\": \"so \\\\boxed{\\\\frac{1}{2}}\"}\n");
        assertEquals("\\frac{1}{2}", Catalog.parseCustom("s=" + sol + ",solution=solution").load(0).getFirst().gold());

        Path missing = dir.resolve("m.jsonl");
        Files.writeString(missing, "{\"problem\": \"1+1?\", \"answer\": \"2\"}\n{\"problem\": \"2+2?\"}\n");
        var e = assertThrows(IllegalArgumentException.class, () -> Catalog.parseCustom("m=" + missing).load(0));
        assertEquals(missing + ":2: missing gold answer: missing field 'answer'", e.getMessage());
        Path empty = dir.resolve("e.jsonl");
        Files.writeString(empty, "{\"problem\": \"1+1?\", \"answer\": \"\"}\n");
        var e2 = assertThrows(IllegalArgumentException.class, () -> Catalog.parseCustom("e=" + empty).load(0));
        assertTrue(e2.getMessage().startsWith(empty + ":1: missing gold answer"), e2.getMessage());
        Path noProblem = dir.resolve("n.jsonl");
        Files.writeString(noProblem, "{\"question\": \"1+1?\", \"answer\": \"2\"}\n");
        var e3 = assertThrows(IllegalArgumentException.class, () -> Catalog.parseCustom("n=" + noProblem).load(0));
        assertEquals(noProblem + ":1: missing field 'problem'", e3.getMessage());

        assertThrows(IllegalArgumentException.class, () -> Catalog.parseCustom("aime24=" + f));
        assertThrows(IllegalArgumentException.class, () -> Catalog.parseCustom("x=" + f + ",colour=blue"));
        assertThrows(IllegalArgumentException.class, () -> Catalog.parseCustom("nofile"));
        var notListed = assertThrows(IllegalArgumentException.class, () -> Catalog.resolve(List.of("aime24"), null, List.of(c)));
        assertTrue(notListed.getMessage().contains("not listed"), notListed.getMessage());
    }

    static final String GPQA_CSV = """
            Record ID,Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3,Subdomain
            rec1,"Which is a noble gas?",Neon,Oxygen,Nitrogen,Carbon,Chemistry
            rec2,"A question with a comma, ""quotes""
            and a line break?","right, answer",wrong 1,wrong 2,wrong 3,Physics
            """;

    @Test
    void gpqaFromTheOfficialCsvLayout(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("gpqa_diamond.csv");
        Files.writeString(f, GPQA_CSV);
        List<Problem> ps = Catalog.resolve(List.of("gpqa-diamond"), f, List.of()).getFirst().load(0);
        assertEquals(2, ps.size());
        Problem p = ps.get(1);
        assertEquals("rec2", p.id());
        assertEquals(f + ":3", p.origin());
        assertTrue(p.message().startsWith(PromptTemplates.CHOICE_PREFIX + "A question with a comma, \"quotes\"\nand a line break?\n\nA) "), p.message());
        int at = p.message().indexOf(") right, answer");
        char letter = p.message().charAt(at - 1);
        assertEquals(String.valueOf(letter), p.gold());
        // the shuffle is fixed: the same file gives the same letters; and not every gold is A
        assertEquals(ps, Catalog.resolve(List.of("gpqa"), f, List.of()).getFirst().load(0));
        Path jsonl = dir.resolve("gpqa.jsonl");
        Files.writeString(jsonl, "{\"Question\": \"Which is a noble gas?\", \"Correct Answer\": \"Neon\", \"Incorrect Answer 1\": \"Oxygen\", "
                + "\"Incorrect Answer 2\": \"Nitrogen\", \"Incorrect Answer 3\": \"Carbon\"}\n");
        Problem j = Catalog.resolve(List.of("gpqa"), jsonl, List.of()).getFirst().load(0).getFirst();
        assertEquals(ps.getFirst().message(), j.message(), "same question, same option order, whatever the file format");

        Path bom = dir.resolve("bom.csv");
        Files.writeString(bom, "\uFEFF" + GPQA_CSV);
        assertEquals(ps, Catalog.resolve(List.of("gpqa"), bom, List.of()).getFirst().load(0).stream()
                .map(x -> new Problem(x.benchmark(), x.index(), x.id(), x.message(), x.gold(), x.origin().replace(bom.toString(), f.toString()))).toList(),
                "a byte-order mark is not part of the first column's name");
        Path bad = dir.resolve("bad.csv");
        Files.writeString(bad, "Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3\nq,,b,c,d\n");
        var e = assertThrows(IllegalArgumentException.class, () -> Catalog.resolve(List.of("gpqa"), bad, List.of()).getFirst().load(0));
        assertTrue(e.getMessage().startsWith(bad + ":2: "), e.getMessage());
        Path unterminated = dir.resolve("u.csv");
        Files.writeString(unterminated, "Question,Correct Answer\n\"open,x\n");
        var u = assertThrows(IllegalArgumentException.class, () -> Rows.csv(Files.newBufferedReader(unterminated), unterminated.toString()));
        assertTrue(u.getMessage().contains(":2: unterminated quoted field"), u.getMessage());
    }

    @Test
    void csvRows() throws Exception {
        List<Row> rows = Rows.csv(new StringReader("a,b\r\n1,\"x\"\"y\"\r\n\r\n2,\n"), "t.csv");
        assertEquals(2, rows.size());
        assertEquals("x\"y", rows.getFirst().text("b"));
        assertEquals("", rows.get(1).text("b"));
        assertEquals(4, rows.get(1).line());
        var e = assertThrows(IllegalArgumentException.class, () -> Rows.csv(new StringReader("a,b\n1,2,3\n"), "t.csv"));
        assertEquals("t.csv:2: 3 fields, the header has 2", e.getMessage());
    }
}
