package dev.tina.eval.grading;

import dev.tina.eval.grading.GradeResult.Status;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

/** Failures users reported against established graders, each pinned. */
class GraderRegressionTest {
    static Grader grader;

    @BeforeAll
    static void start() {
        grader = new Grader(new Grader.Options(Duration.ofSeconds(5), 8));
        grader.warmUp();
    }

    @AfterAll
    static void stop() { grader.close(); }

    static GradeResult grade(String gold, String completion) { return grader.grade(gold, completion); }

    @Test
    void twoBoxedAnswersAreAListNeverOneConcatenatedNumber() {
        GradeResult r = grade("12", "First $\\boxed{1}\\boxed{2}$.");
        assertEquals(Status.WRONG, r.status(), r.detail());
        assertEquals("1, 2", r.extracted());
        assertTrue(grade("\\{1, 2\\}", "$\\boxed{1}\\boxed{2}$").correct());
        assertTrue(grade("1, 2", "\\boxed{1} and \\boxed{2}").correct());
        // hedging with two boxes does not win against a single gold
        assertFalse(grade("3", "It is \\boxed{3} or \\boxed{5}").correct());
        // far-apart boxes: the last one is the answer
        assertTrue(grade("2", "\\boxed{1} no no no no no \\boxed{2}").correct());
    }

    @Test
    void boldAnswersCountWhenNothingIsBoxed() {
        GradeResult r = grade("73", "Adding the two cases gives a total of **73**.");
        assertEquals(Status.CORRECT, r.status(), r.detail());
        assertEquals("73", r.extracted());
        assertTrue(grade("73", "**Answer:** **73**").correct());
        assertFalse(grade("73", "**Step 1:** guess **73**, then check: the answer is \\boxed{74}").correct(), "a box beats bold");
        assertFalse(grade("73", "**Step 1.** Set up the equation").correct());
    }

    @Test
    void factorialsAreComputedNotDropped() {
        assertTrue(grade("120", "\\boxed{5!}").correct());
        assertTrue(grade("5!", "\\boxed{120}").correct());
        assertFalse(grade("5", "\\boxed{3!}").correct());
        assertFalse(grade("3", "\\boxed{3!}").correct(), "3! is 6, the '!' is not punctuation");
        assertTrue(grade("n!", "\\boxed{n \\cdot (n-1)!}").correct());
        assertFalse(grade("n!", "\\boxed{n}").correct());
        assertFalse(grade("(2n)!", "\\boxed{2n!}").correct());
        assertTrue(grade("\\frac{10!}{8!}", "\\boxed{90}").correct());
    }

    @Test
    void bareDfracShorthandIsAFraction() {
        assertTrue(grade("\\frac{1}{2}", "\\boxed{\\dfrac12}").correct());
        assertTrue(grade("\\frac{1}{2}", "\\boxed{\\dfrac{1}{2}}").correct());
        assertTrue(grade("\\dfrac12", "The answer is 0.5").correct());
        assertFalse(grade("\\dfrac12", "\\boxed{12}").correct());
        assertTrue(grade("\\frac{3}{4}", "\\boxed{\\tfrac34}").correct());
    }

    @Test
    void anUnparseableGoldNeverScoresOne() {
        for (String gold : new String[]{"\\frac{1}{", "", "   ", "\\boxed{}", "(1, 2", "x \\in"}) {
            GradeResult r = grade(gold, gold.isBlank() ? "\\boxed{1}" : "\\boxed{" + gold + "}");
            assertEquals(Status.GOLD_UNPARSEABLE, r.status(), "gold '" + gold + "': " + r.detail());
            assertFalse(r.correct());
            GoldCheck check = grader.validateGold(gold);
            assertFalse(check.parseable());
            assertNotNull(check.reason(), gold);
        }
        GoldCheck ok = grader.validateGold("\\frac{1}{2}");
        assertTrue(ok.parseable());
        assertEquals("1/2", ok.answer());
        assertTrue(grader.validateGold("\\text{(C)}").parseable());
    }

    @Test
    void aModelThatGivesNoAnswerIsWrongNotAnError() {
        for (String completion : new String[]{"", "   ", "I am not sure how to approach this problem, sorry.", "<think>hmm let me think about it"}) {
            GradeResult r = grade("5", completion);
            assertEquals(Status.NO_ANSWER, r.status(), completion);
            assertFalse(r.correct());
            assertEquals(0.0, r.reward());
        }
        assertEquals(Status.NO_ANSWER, grade("5", null).status());
    }

    @Test
    void anUnreadableBoxDoesNotFallBackToStrayNumbers() {
        String deep = "(".repeat(50_000) + "1" + ")".repeat(50_000);
        GradeResult r = grade("1", "So \\boxed{" + deep + "}");
        assertEquals(Status.WRONG, r.status(), r.detail());
        assertFalse(grade("7", "We compute 7 apples... \\boxed{\\frac{1}{}").correct());
    }

    @Test
    void pathologicalInputFinishesWithinTheDeadline() {
        long t0 = System.nanoTime();
        GradeResult tower = grade("10^{10^{10^{10}}}", "\\boxed{10^{10^{10^{10}}} + 1}");
        GradeResult nested = grade("2", "\\boxed{" + "\\sqrt{".repeat(5_000) + "2" + "}".repeat(5_000) + "}");
        GradeResult huge = grade("5", "\\boxed{(10^{100})! - (10^{100})! + 5}");
        GradeResult long_ = grade("5", "x".repeat(3_000_000) + " so the answer is \\boxed{5}");
        long ms = (System.nanoTime() - t0) / 1_000_000;
        for (GradeResult r : new GradeResult[]{tower, nested}) assertNotEquals(Status.CORRECT, r.status(), r.detail());
        assertTrue(ms < 4 * grader.options().deadline().toMillis(), ms + " ms");
        assertTrue(huge.status() == Status.CORRECT || huge.status() == Status.TIMEOUT || huge.status() == Status.WRONG);
        assertEquals(Status.CORRECT, long_.status());
        assertEquals(Status.CORRECT, grade("10^{10^{10^{10}}}", "\\boxed{10^{10^{10^{10}}}}").status());
    }

    @Test
    void aHangingComparisonTimesOutIsCountedAndFreesTheCaller() throws Exception {
        AtomicBoolean release = new AtomicBoolean();
        // a comparison that ignores interrupts and never returns until released: the worst case
        Grader.Judge hang = (gold, pred) -> {
            if (pred.display().contains("666")) {
                while (!release.get()) Thread.onSpinWait();
                return true;
            }
            return Equivalence.equivalent(gold, pred);
        };
        try (Grader g = new Grader(new Grader.Options(Duration.ofMillis(300), 1), hang)) {
            long t0 = System.nanoTime();
            GradeResult r = g.grade("5", "\\boxed{666}");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(Status.TIMEOUT, r.status());
            assertFalse(r.correct(), "a timeout scores 0");
            assertTrue(ms >= 250 && ms < 2_000, ms + " ms");
            assertEquals(1, g.stats().timeouts());
            assertEquals(1, g.stats().abandonedRunning());
            // the stuck worker is abandoned; with the cap reached new work is refused at once, not queued
            long t1 = System.nanoTime();
            assertEquals(Status.TIMEOUT, g.grade("5", "\\boxed{5}").status());
            assertTrue((System.nanoTime() - t1) / 1_000_000 < 200);
            release.set(true);
            long deadline = System.currentTimeMillis() + 5_000;
            while (g.stats().abandonedRunning() > 0 && System.currentTimeMillis() < deadline) Thread.sleep(10);
            assertEquals(0, g.stats().abandonedRunning());
            assertEquals(Status.CORRECT, g.grade("5", "\\boxed{5}").status(), "fresh workers serve the next grade");
            assertEquals(2, g.stats().timeouts());
        }
    }

    @Test
    void timeoutsLeaveOtherWorkersFree() throws Exception {
        AtomicBoolean release = new AtomicBoolean();
        Grader.Judge hang = (gold, pred) -> {
            if (pred.display().contains("666")) {
                while (!release.get()) Thread.onSpinWait();
            }
            return Equivalence.equivalent(gold, pred);
        };
        try (Grader g = new Grader(new Grader.Options(Duration.ofMillis(200), 4), hang)) {
            assertEquals(Status.TIMEOUT, g.grade("5", "\\boxed{666}").status());
            assertEquals(Status.TIMEOUT, g.grade("5", "\\boxed{666}").status());
            assertEquals(Status.CORRECT, g.grade("5", "\\boxed{5}").status());
            assertEquals(2, g.stats().abandonedRunning());
            release.set(true);
        }
    }

    @Test
    void aGraderBugIsAScoredVerdictNotAnException() {
        Grader.Judge broken = (gold, pred) -> { throw new NullPointerException("simulated bug"); };
        try (Grader g = new Grader(new Grader.Options(Duration.ofSeconds(2), 2), broken)) {
            GradeResult r = g.grade("5", "\\boxed{5}");
            assertEquals(Status.WRONG, r.status());
            assertTrue(r.detail().contains("simulated bug"), r.detail());
            assertEquals(1, g.stats().internalErrors());
        }
    }

    @Test
    void versionAndStatsAreReported() {
        assertTrue(Grader.VERSION.startsWith("tina-grader/"));
        Grader.Stats s = grader.stats();
        assertTrue(s.graded() >= 0 && s.abandonedRunning() == 0);
    }
}
