package dev.tina.eval.grading;

import dev.tina.testsupport.Shared;

import dev.tina.eval.bench.Catalog;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The benchmarks Tina evaluates on (../shared/data): every gold is readable, every reference solution
 * grades correct against its own gold, and golds of other problems are never judged equal to it.
 */
class BenchmarkGoldsTest {
    static final Path DATA = Shared.path("data");
    static final ObjectMapper JSON = new ObjectMapper();
    static Grader grader;

    @BeforeAll
    static void start() {
        assumeTrue(Files.isDirectory(DATA), "no ../shared/data here");
        grader = new Grader(new Grader.Options(Duration.ofSeconds(10), 8));
        grader.warmUp();
    }

    @AfterAll
    static void stop() { if (grader != null) grader.close(); }

    static List<JsonNode> rows(String file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(DATA.resolve(file))) if (!line.isBlank()) out.add(JSON.readTree(line));
        return out;
    }

    @Test
    void everyGoldIsReadable() throws IOException {
        List<String> bad = new ArrayList<>();
        String[][] sets = {{"math500/test.jsonl", "math500"}, {"minerva_math/test.jsonl", "minerva"}, {"aime24/test.jsonl", "aime24"},
                {"aime25/test.jsonl", "aime25"}, {"amc23/test.jsonl", "amc23"}, {"gsm8k/test.jsonl", "gsm8k"}};
        int n = 0;
        for (String[] s : sets) {
            GoldField field = Catalog.shipped(s[1]).gold();
            for (JsonNode row : rows(s[0])) {
                String gold = field.gold(row);
                n++;
                GoldCheck c = grader.validateGold(gold);
                if (!c.parseable()) bad.add(s[1] + ": " + gold + " (" + c.reason() + ")");
            }
        }
        for (JsonNode row : rows("limr/limr_train.derived.jsonl")) {
            n++;
            GoldCheck c = grader.validateGold(row.get("answer").asText());
            if (!c.parseable()) bad.add("limr: " + row.get("answer").asText() + " (" + c.reason() + ")");
        }
        assertTrue(bad.isEmpty(), bad.size() + " of " + n + " golds unreadable:\n" + String.join("\n", bad));
    }

    /**
     * Golds of different problems that are one answer in two notations (found by grading every pair of distinct
     * golds of MATH-500 and Minerva once, and read one by one): grading them equal is right.
     */
    static final List<Set<String>> SAME_ANSWER = List.of(Set.of("90^\\circ", "90"), Set.of("120^\\circ", "120"),
            Set.of("30^\\circ", "30"), Set.of("36", "36^\\circ", "\\$36"), Set.of("5", "x=5"), Set.of("1,-2", "-2,1", "(-2,1)"),
            Set.of("\\frac14", "\\frac{1}{4}"), Set.of("10,\\!080", "10080"), Set.of("15\\mbox{ cm}^2", "15"),
            Set.of("2 \\sqrt{5}", "2\\sqrt{5}"), Set.of("2", "+2"),
            Set.of("40_9", "40"), // a base-9 gold, its digits without the subscript (the other way round they differ)
            Set.of("\\pi", "180^\\circ")); // one angle in radians and in degrees

    static boolean sameAnswer(String a, String b) {
        return SAME_ANSWER.stream().anyMatch(g -> g.contains(a.strip()) && g.contains(b.strip()));
    }

    @Test
    void referenceSolutionsGradeCorrectAndOtherGoldsDoNot() throws IOException {
        List<String> failures = new ArrayList<>();
        for (String[] s : new String[][]{{"math500/test.jsonl", "math500"}, {"minerva_math/test.jsonl", "minerva"}}) {
            List<JsonNode> rows = rows(s[0]);
            GoldField field = Catalog.shipped(s[1]).gold();
            for (int i = 0; i < rows.size(); i++) {
                String gold = field.gold(rows.get(i));
                GradeResult r = grader.grade(gold, rows.get(i).get("solution").asText());
                if (!r.correct()) failures.add("solution of " + gold + ": " + r.status() + " " + r.detail());
                for (int k = 1; k <= 6; k++) { // six other golds each (an all-pairs run over both benchmarks found only notation variants grading equal, such as 90^\\circ and 90)
                    String other = field.gold(rows.get((i + 37 * k) % rows.size()));
                    if (other.equals(gold) || sameAnswer(gold, other)) continue;
                    GradeResult x = grader.grade(gold, "\\boxed{" + other + "}");
                    if (x.correct()) failures.add("judged equal: " + gold + " and " + other);
                }
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    @Test
    void math500AnswerFieldAgreesWithTheBoxInTheSolution() throws IOException {
        for (JsonNode row : rows("math500/test.jsonl")) {
            String gold = Catalog.shipped("math500").gold().gold(row);
            GradeResult r = grader.grade(gold, "\\boxed{" + row.get("answer").asText() + "}");
            assertTrue(r.correct(), gold + " vs " + row.get("answer").asText() + ": " + r.detail());
        }
    }
}
