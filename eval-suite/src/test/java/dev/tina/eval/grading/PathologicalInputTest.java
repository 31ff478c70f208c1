package dev.tina.eval.grading;

import dev.tina.eval.grading.GradeResult.Status;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Hostile answers (issue 14): each is graded within the deadline or scored 0 as a counted timeout; never a hang,
 * an exception or an out-of-memory. Where the verdict is decidable in time it must also be right.
 */
class PathologicalInputTest {
    static final Duration DEADLINE = Duration.ofMillis(1500);
    static Grader grader;

    @BeforeAll
    static void start() {
        grader = new Grader(new Grader.Options(DEADLINE, 64));
        grader.warmUp();
    }

    @AfterAll
    static void stop() { grader.close(); }

    /** name, gold, completion, the verdict when not a timeout (null: either is acceptable, only no crash matters). */
    static List<Arguments> cases() {
        String digits10k = "7".repeat(10_000);
        String sum10k = IntStream.range(0, 2_000).mapToObj(i -> "x_{" + i + "}").collect(Collectors.joining("+")); // about 10,000 characters
        return List.of(
                Arguments.of("braces nested 10,000 deep", "1", "\\boxed{" + "{".repeat(10_000) + "1" + "}".repeat(10_000) + "}", null),
                Arguments.of("fractions nested 3,000 deep", "1", "\\boxed{" + "\\frac{1}{".repeat(3_000) + "1" + "}".repeat(3_000) + "}", null),
                Arguments.of("parentheses nested 100,000 deep", "1", "\\boxed{" + "(".repeat(100_000) + "1" + ")".repeat(100_000) + "}", false),
                Arguments.of("roots nested 2,000 deep", "2", "\\boxed{" + "\\sqrt{".repeat(2_000) + "2" + "}".repeat(2_000) + "}", false),
                Arguments.of("a 10,000-digit number equal to the gold", digits10k, "\\boxed{" + digits10k + "}", null),
                Arguments.of("a 10,000-character sum", "x_{0}", "\\boxed{" + sum10k + "}", null),
                Arguments.of("a 10,000-character gold", sum10k, "\\boxed{1}", null),
                Arguments.of("unbalanced: unclosed box", "\\frac{1}{2}", "so \\boxed{\\frac{1}{2", null),
                Arguments.of("unbalanced: closing braces only", "5", "\\boxed{5}}}}}}} and }}}{{{", true),
                Arguments.of("unbalanced: open braces 5,000", "5", "\\boxed{" + "{".repeat(5_000) + "5", false),
                Arguments.of("unbalanced gold", "\\frac{1}{", "\\boxed{1}", false),
                Arguments.of("10^{10^{10}} against itself plus one", "10^{10^{10}}", "\\boxed{10^{10^{10}}+1}", false),
                Arguments.of("10^{10^{10}} against itself", "10^{10^{10}}", "\\boxed{10^{10^{10}}}", true),
                Arguments.of("a tower of twos", "2^{2^{2^{2^{2^{2}}}}}", "\\boxed{2^{2^{2^{2^{2^{2}}}}} - 1}", false),
                Arguments.of("factorial of a googol", "5", "\\boxed{(10^{100})!}", false),
                Arguments.of("x^{10^{10}} symbolic", "x^{10^{10}}", "\\boxed{x^{10^{10}+1}}", false),
                Arguments.of("2^40 readings of \\pm", "0", "\\boxed{" + "\\pm 1".repeat(40) + "}", false),
                Arguments.of("a set of 3,000 elements", "\\{" + IntStream.range(0, 3_000).mapToObj(Integer::toString).collect(Collectors.joining(",")) + "\\}",
                        "\\boxed{\\{" + IntStream.range(0, 3_000).map(i -> 2_999 - i).mapToObj(Integer::toString).collect(Collectors.joining(",")) + "\\}}", null),
                Arguments.of("a 60×60 matrix", matrix(60, 0), "\\boxed{" + matrix(60, 1) + "}", false),
                Arguments.of("5,000 boxes", "4999", IntStream.range(0, 5_000).mapToObj(i -> "\\boxed{" + i + "} then").collect(Collectors.joining(" ")), true),
                Arguments.of("20,000 dollar signs", "1", "$".repeat(20_000) + " answer \\boxed{1}", true),
                Arguments.of("'final answer' 20,000 times", "3", "final answer ".repeat(20_000) + "is 3", true),
                Arguments.of("a million characters of prose", "5", "word ".repeat(200_000) + "\\boxed{5}", true),
                Arguments.of("control characters and NUL", "5", "\u0000\u0001\\boxed{5}\u0007", true));
    }

    static String matrix(int n, int offset) {
        return "\\begin{pmatrix}" + IntStream.range(0, n).mapToObj(r -> IntStream.range(0, n).mapToObj(c -> Integer.toString(r * n + c + (r == n - 1 && c == n - 1 ? offset : 0)))
                .collect(Collectors.joining("&"))).collect(Collectors.joining("\\\\")) + "\\end{pmatrix}";
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void gradedInTimeOrCountedAsTimeout(String name, String gold, String completion, Boolean expected) {
        long timeoutsBefore = grader.stats().timeouts();
        long t0 = System.nanoTime();
        GradeResult r = assertDoesNotThrow(() -> grader.grade(gold, completion));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ms < DEADLINE.toMillis() + 1_000, name + ": " + ms + " ms");
        if (r.status() == Status.TIMEOUT) {
            assertFalse(r.correct(), "a timeout scores 0");
            assertEquals(timeoutsBefore + 1, grader.stats().timeouts(), "the timeout is counted");
        } else if (expected != null) {
            assertEquals(expected, r.correct(), name + ": " + r.status() + " " + r.detail());
        }
        assertDoesNotThrow(() -> grader.explain(gold, completion), "explaining never throws either");
    }
}
