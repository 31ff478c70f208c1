package dev.tina.eval.grading;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/** The CAS bridge, and the verdicts only the CAS can give (values beyond double range). */
class SymjaCasTest {

    @BeforeAll
    static void warm() { SymjaCas.warmUp(); }

    static SymjaCas.Verdict zero(String a, String b) {
        return SymjaCas.differenceIsZero(ExpressionParser.parse(LatexNormalizer.normalize(a, false)),
                ExpressionParser.parse(LatexNormalizer.normalize(b, false)));
    }

    @Test
    void simplifiesSymbolicDifferences() {
        assertEquals(SymjaCas.Verdict.ZERO, zero("(x+1)^2", "x^2+2x+1"));
        assertEquals(SymjaCas.Verdict.ZERO, zero("\\sin^2 x + \\cos^2 x", "1"));
        assertEquals(SymjaCas.Verdict.ZERO, zero("\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}"));
        assertNotEquals(SymjaCas.Verdict.ZERO, zero("x+1", "x-1"));
        assertNotEquals(SymjaCas.Verdict.ZERO, zero("E", "e"), "a symbol named E is not Euler's e");
    }

    @Test
    void testsConstantsForZero() {
        assertEquals(SymjaCas.Verdict.ZERO, zero("\\sqrt{2}+\\sqrt{3}", "\\sqrt{5+2\\sqrt{6}}"));
        assertEquals(SymjaCas.Verdict.NONZERO, zero("1 - \\frac{1}{e}", "1 + \\frac{1}{e}"));
    }

    @Test
    void decidesWhatDoublesCannotHoldAndPrintsNothing() {
        PrintStream old = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true));
        try (Grader g = new Grader(new Grader.Options(Duration.ofSeconds(10), 4))) {
            assertTrue(g.grade("e^{1001}", "\\boxed{e \\cdot e^{1000}}").correct(), "e^1001 overflows a double");
            assertFalse(g.grade("e^{1001}", "\\boxed{e^{1000}}").correct());
            assertFalse(g.grade("10^{10^{10}}", "\\boxed{10^{10^{10}} + 1}").correct());
        } finally {
            System.setOut(old);
        }
        assertEquals("", captured.toString(), "the CAS must not write to stdout (tina grade streams JSONL there)");
    }
}
