package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@code tina grade}, run in-process (not yet registered in TinaCommand, so invoked directly). */
class GradeCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    record Run(int code, String out, String err) {}

    static Run grade(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = new CommandLine(new GradeCommand());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    static final String INPUT = """
            {"id": 1, "gold": "\\\\frac{1}{2}", "prediction": "So the answer is $\\\\boxed{\\\\dfrac12}$.", "score": 27.0}
            {"id": 2, "gold": "12", "prediction": "$\\\\boxed{1}\\\\boxed{2}$"}

            {"id": 3, "gold": "5", "prediction": "I do not know."}
            {"id": 4, "gold": "\\\\frac{1}{", "prediction": "\\\\boxed{\\\\frac{1}{}"}
            {"id": 5, "gold": 27, "prediction": "**27**", "meta": {"k": [1, 2]}}
            """;

    @Test
    void gradesEveryLineKeepsItsFieldsAndSummarizes(@TempDir Path tmp) throws Exception {
        Path in = Files.writeString(tmp.resolve("in.jsonl"), INPUT);
        Path outFile = tmp.resolve("graded/out.jsonl");
        Run r = grade("--input", in.toString(), "--out", outFile.toString(), "--deadline-ms", "10000");
        assertEquals(0, r.code(), r.err());

        List<String> lines = Files.readAllLines(outFile);
        assertEquals(5, lines.size());
        JsonNode first = JSON.readTree(lines.get(0));
        assertEquals(1, first.get("id").asInt());
        assertEquals("27.0", first.get("score").toString(), "original fields are kept as written");
        assertTrue(first.get("correct").asBoolean());
        assertEquals("\\dfrac12", first.get("extracted").asText());
        assertFalse(JSON.readTree(lines.get(1)).get("correct").asBoolean(), "two boxes are not 12");
        JsonNode none = JSON.readTree(lines.get(2));
        assertFalse(none.get("correct").asBoolean());
        assertTrue(none.get("extracted").isNull());
        assertFalse(JSON.readTree(lines.get(3)).get("correct").asBoolean(), "an unparseable gold never scores");
        JsonNode last = JSON.readTree(lines.get(4));
        assertTrue(last.get("correct").asBoolean());
        assertEquals("[1,2]", last.get("meta").get("k").toString());

        JsonNode summary = JSON.readTree(r.out().strip()).get("summary");
        assertEquals(5, summary.get("lines").asInt());
        assertEquals(2, summary.get("correct").asInt());
        assertEquals(1, summary.get("wrong").asInt());
        assertEquals(1, summary.get("no_answer").asInt());
        assertEquals(0, summary.get("timeouts").asInt());
        assertEquals(1, summary.get("gold_unparseable").asInt());
        assertEquals(0.4, summary.get("accuracy").asDouble(), 1e-12);
        assertTrue(summary.get("grader").asText().startsWith("tina-grader/"));
        assertTrue(r.err().contains("in.jsonl:5: gold unparseable"), r.err());
        try (var listing = Files.list(outFile.getParent())) {
            assertEquals(1, listing.count(), "no temporary file left next to --out");
        }
    }

    @Test
    void withoutOutTheGradedLinesAndTheSummaryGoToStdout(@TempDir Path tmp) throws Exception {
        Path in = Files.writeString(tmp.resolve("in.jsonl"), INPUT);
        Run r = grade("--input", in.toString());
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().strip().lines().toList();
        assertEquals(6, lines.size());
        for (String l : lines.subList(0, 5)) assertTrue(JSON.readTree(l).has("correct"), l);
        assertTrue(JSON.readTree(lines.get(5)).has("summary"));
    }

    @Test
    void aMalformedLineNamesTheFileAndLineAndWritesNothing(@TempDir Path tmp) throws Exception {
        Path in = Files.writeString(tmp.resolve("bad.jsonl"), "{\"gold\": \"1\", \"prediction\": \"1\"}\n\n{\"gold\": \"2\", \"prediction\": \n");
        Path outFile = tmp.resolve("out.jsonl");
        Run r = grade("--input", in.toString(), "--out", outFile.toString());
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("bad.jsonl:3: malformed JSON"), r.err());
        assertFalse(Files.exists(outFile));

        Files.writeString(in, "{\"gold\": \"1\"}\n");
        r = grade("--input", in.toString());
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("bad.jsonl:1: missing field 'prediction'"), r.err());

        Files.writeString(in, "[1, 2]\n");
        assertNotEquals(0, grade("--input", in.toString()).code());
        r = grade("--input", tmp.resolve("absent.jsonl").toString());
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("absent.jsonl"), r.err());
    }

    @Test
    void explainSaysWhatWasReadHowItParsedAndWhichRuleDecided(@TempDir Path tmp) throws Exception {
        Path in = Files.writeString(tmp.resolve("in.jsonl"), """
                {"gold": "(-\\\\infty, 3)", "prediction": "So $\\\\boxed{x < 3}$."}
                {"gold": "25\\\\%", "prediction": "\\\\boxed{25}"}
                {"gold": "\\\\frac{1}{", "prediction": "\\\\boxed{1}"}
                """);
        Path outFile = tmp.resolve("out.jsonl");
        Run r = grade("--input", in.toString(), "--out", outFile.toString(), "--explain");
        assertEquals(0, r.code(), r.err());
        String text = r.out();
        assertTrue(text.contains("in.jsonl:1  CORRECT"), text);
        assertTrue(text.contains("gold read  (-\\infty, 3)  ->  interval (-infty, 3)") || text.contains("interval (-"), text);
        assertTrue(text.contains("answer     x < 3  [boxed]"), text);
        assertTrue(text.contains("parsed     inequality"), text);
        assertTrue(text.contains("the predicted inequality read as a set"), text);
        assertTrue(text.contains("percent sign left off"), text);
        assertTrue(text.contains("in.jsonl:3  GOLD_UNPARSEABLE"), text);
        JsonNode first = JSON.readTree(Files.readAllLines(outFile).getFirst());
        assertEquals("boxed", first.get("explain").get("source").asText());
        assertTrue(first.get("explain").get("rules").size() > 0);

        // Math-Verify's conventions: an interval gold is not matched by an inequality, 25% not by 25
        r = grade("--input", in.toString(), "--conventions", "math-verify");
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().strip().lines().toList();
        assertFalse(JSON.readTree(lines.get(0)).get("correct").asBoolean(), lines.get(0));
        assertEquals("math-verify", JSON.readTree(lines.get(3)).get("summary").get("conventions").asText());
        assertNotEquals(0, grade("--input", in.toString(), "--conventions", "lenient").code());
    }

    @Test
    void hostileLinesNeverFailTheCommand(@TempDir Path tmp) throws Exception {
        ObjectMapper json = new ObjectMapper();
        StringBuilder in = new StringBuilder();
        for (String[] c : new String[][]{{"1", "\\boxed{" + "{".repeat(20_000) + "1" + "}".repeat(20_000) + "}"},
                {"10^{10^{10}}", "\\boxed{10^{10^{10}}+1}"}, {"5", "\\boxed{(10^{100})!}"}, {"\\frac{1}{", "\\boxed{"},
                {"x", "\\boxed{" + "x+".repeat(5_000) + "x}"}}) {
            in.append(json.writeValueAsString(java.util.Map.of("gold", c[0], "prediction", c[1]))).append('\n');
        }
        Path file = Files.writeString(tmp.resolve("hostile.jsonl"), in);
        Run r = grade("--input", file.toString(), "--deadline-ms", "300", "--explain");
        assertEquals(0, r.code(), r.err());
        String last = r.out().strip().lines().reduce((a, b) -> b).orElseThrow();
        JsonNode summary = JSON.readTree(last).get("summary");
        assertEquals(5, summary.get("lines").asInt());
        assertEquals(0, summary.get("correct").asInt());
        assertEquals(5, summary.get("wrong").asInt() + summary.get("timeouts").asInt() + summary.get("gold_unparseable").asInt()
                + summary.get("no_answer").asInt(), last);
    }
}
