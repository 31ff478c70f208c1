package dev.tina.eval.grading;

import dev.tina.testsupport.Shared;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Agreement with Math-Verify's own test verdicts (../shared/fixtures/grading, 106 cases). The verdicts are
 * Math-Verify's, not ground truth; two disagreements are deliberate: "1 - 1/e" vs "1 + 1/e" (Math-Verify says
 * equal, flagged mathematically_questionable) and "Answer $ \n 9 \n $" vs 9 (Math-Verify will not read an
 * inline "$...$" that spans lines; the answer is plainly 9).
 */
class MathVerifyAgreementTest {
    static final Path SHARED = Shared.ROOT;
    static final Path CASES = SHARED.resolve("fixtures/grading/math_verify_cases.jsonl");
    /** The level reached (104/106); held-out cases of the same kinds are expected near it. */
    static final double REQUIRED = 0.98;

    static Grader grader;

    @BeforeAll
    static void start() {
        grader = new Grader(new Grader.Options(java.time.Duration.ofSeconds(10), 8));
        grader.warmUp();
    }

    @AfterAll
    static void stop() { grader.close(); }

    record Case(String id, String category, String gold, String prediction, boolean expected) {}

    static List<Case> cases() throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<Case> out = new ArrayList<>();
        for (String line : Files.readAllLines(CASES)) {
            if (line.isBlank()) continue;
            JsonNode n = json.readTree(line);
            out.add(new Case(n.get("id").asText(), n.get("category").asText(), n.get("gold").asText(), n.get("prediction").asText(), n.get("expected").asBoolean()));
        }
        return out;
    }

    @Test
    void gradingFromManyThreadsGivesTheSameVerdicts() throws Exception {
        List<Case> cases = cases();
        List<GradeResult.Status> sequential = cases.stream().map(c -> grader.grade(c.gold(), c.prediction()).status()).toList();
        try (var pool = java.util.concurrent.Executors.newFixedThreadPool(8)) {
            for (int round = 0; round < 3; round++) {
                List<java.util.concurrent.Future<GradeResult.Status>> parallel = new ArrayList<>();
                for (Case c : cases) parallel.add(pool.submit(() -> grader.grade(c.gold(), c.prediction()).status()));
                for (int i = 0; i < cases.size(); i++) assertEquals(sequential.get(i), parallel.get(i).get(), cases.get(i).id());
            }
        }
    }

    @Test
    void agreesWithMathVerifyPerCategory() throws IOException {
        List<Case> cases = cases();
        Map<String, int[]> table = new TreeMap<>();
        List<String> disagreements = new ArrayList<>();
        for (Case c : cases) {
            GradeResult r = grader.grade(c.gold(), c.prediction());
            boolean agree = r.correct() == c.expected();
            int[] t = table.computeIfAbsent(c.category(), k -> new int[2]);
            t[0] += agree ? 1 : 0;
            t[1]++;
            if (!agree) disagreements.add(c.id() + " expected=" + c.expected() + " got=" + r.status() + " extracted=" + r.extracted() + " | " + r.detail());
        }
        int agreed = table.values().stream().mapToInt(t -> t[0]).sum();
        StringBuilder report = new StringBuilder("\nMath-Verify agreement (" + Grader.VERSION + ")\n");
        report.append(String.format("%-20s %7s %7s %9s%n", "category", "agree", "cases", "rate"));
        table.forEach((k, t) -> report.append(String.format("%-20s %7d %7d %8.1f%%%n", k, t[0], t[1], 100.0 * t[0] / t[1])));
        report.append(String.format("%-20s %7d %7d %8.1f%%%n", "overall", agreed, cases.size(), 100.0 * agreed / cases.size()));
        disagreements.forEach(d -> report.append("  disagrees: ").append(d).append('\n'));
        System.out.println(report);
        double rate = (double) agreed / cases.size();
        assertTrue(cases.size() == 106, "fixture changed: " + cases.size() + " cases");
        assertTrue(rate >= REQUIRED && rate >= 0.90, String.format("agreement %.3f below %.2f%s", rate, REQUIRED, report));
    }
}
