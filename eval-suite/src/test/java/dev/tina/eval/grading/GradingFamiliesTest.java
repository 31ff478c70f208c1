package dev.tina.eval.grading;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The answer families where graders disagree most (issue 14), written for this project in
 * {@code src/test/resources/grading/families.tsv}: each case says why its verdict is right.
 */
class GradingFamiliesTest {
    static Grader grader;

    @BeforeAll
    static void start() {
        grader = new Grader(new Grader.Options(Duration.ofSeconds(10), 8));
        grader.warmUp();
    }

    @AfterAll
    static void stop() { grader.close(); }

    record Case(String family, int line, boolean expected, String gold, String completion, String why) {}

    static List<Case> cases() throws IOException {
        List<Case> out = new ArrayList<>();
        String family = null;
        try (InputStream in = GradingFamiliesTest.class.getResourceAsStream("/grading/families.tsv")) {
            if (in == null) throw new IOException("grading/families.tsv missing from the test resources");
            String[] lines = new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n");
            for (int i = 0; i < lines.length; i++) {
                String line = lines[i];
                if (line.startsWith("## ")) { family = line.substring(3).strip(); continue; }
                if (line.isBlank() || line.startsWith("#")) continue;
                String[] f = line.split("\t");
                if (f.length != 4 || !(f[0].equals("T") || f[0].equals("F")) || family == null) {
                    throw new IOException("families.tsv:" + (i + 1) + ": expected 'T|F<TAB>gold<TAB>completion<TAB>why' under a '## family' header");
                }
                out.add(new Case(family, i + 1, f[0].equals("T"), f[1], f[2].replace("⏎", "\n"), f[3]));
            }
        }
        return out;
    }

    static List<Arguments> rows() throws IOException {
        return cases().stream().map(c -> Arguments.of(c.family(), c.line(), c.expected(), c.gold(), c.completion(), c.why())).toList();
    }

    @ParameterizedTest(name = "[{0}] line {1}: {3} vs {4} -> {2} ({5})")
    @MethodSource("rows")
    void verdict(String family, int line, boolean expected, String gold, String completion, String why) {
        GradeResult r = grader.grade(gold, completion);
        assertEquals(expected, r.correct(), () -> "families.tsv:" + line + " " + why + " | got " + r.status() + " extracted="
                + r.extracted() + " | " + r.detail());
    }

    @ParameterizedTest(name = "every family has wrong cases too: {0}")
    @MethodSource("families")
    void everyFamilyGuardsAgainstFalsePositives(String family) throws IOException {
        List<Case> mine = cases().stream().filter(c -> c.family().equals(family)).toList();
        assertTrue(mine.size() >= 8, family + ": only " + mine.size() + " cases");
        assertTrue(mine.stream().anyMatch(c -> !c.expected()), family + ": no case that must be graded wrong");
    }

    static List<String> families() throws IOException {
        return cases().stream().map(Case::family).distinct().toList();
    }
}
