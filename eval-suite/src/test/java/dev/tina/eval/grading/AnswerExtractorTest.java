package dev.tina.eval.grading;

import dev.tina.eval.grading.AnswerExtractor.Extraction;
import dev.tina.eval.grading.AnswerExtractor.Source;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class AnswerExtractorTest {

    static Extraction first(String completion) {
        List<Extraction> c = AnswerExtractor.candidates(completion);
        assertFalse(c.isEmpty(), "no candidate in: " + completion);
        return c.getFirst();
    }

    @Test
    void lastBoxWinsAndNestedBracesSurvive() {
        Extraction e = first("We try \\boxed{3} first but it fails the check so we find $\\boxed{\\frac{1}{\\sqrt{2}}}$.");
        assertEquals("\\frac{1}{\\sqrt{2}}", e.text());
        assertEquals(Source.BOXED, e.source());
        assertEquals("7", first("\\fbox{7}").text());
        assertEquals("5", first("so \\boxed {5}").text());
    }

    @Test
    void boxesJoinedByAShortConnectorFormOneList() {
        assertEquals("(2, 2), (6, 2)", first("$$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$$").text());
        assertEquals("1, 2", first("\\boxed{1}\\boxed{2}").text());
        assertEquals("840", first("therefore\\boxed{840}.,but let me explain.\n\n**Final Answer**\n\\boxed{840}").text());
    }

    @Test
    void unclosedBoxTakesTheRest() {
        assertEquals("W(n) = 1 \\text{ and } W(n) = -1", first("\\boxed{W(n) = 1 \\text{ and } W(n) = -1").text());
    }

    @Test
    void textAfterThinkIsSearchedFirst() {
        assertEquals("5", first("<think>maybe \\boxed{3}</think>\nSo the result is \\boxed{5}.").text());
        assertEquals("3", first("<think>maybe \\boxed{3}, no wait</think>").text(), "nothing after </think>: search all");
    }

    @Test
    void answerTagsComeFirst() {
        Extraction e = first("\\boxed{4} <answer>\\boxed{6}</answer>");
        assertEquals("6", e.text());
        assertEquals(Source.ANSWER_TAG, e.source());
    }

    @Test
    void finalAnswerPhrases() {
        assertEquals("34", first("Final Answer: The largest $n$ is 34.").text());
        assertEquals("7.78", first("Final Answer: The final answer is 7.78. I hope it is correct.").text());
        assertEquals("(0, 0)", first("Final Answer: The final answer is $(0, 0)$. I hope it is correct.").text());
        assertEquals("5", first("\\boxed{3}. Final Answer: The final answer is 5. I hope it is correct.").text(), "the later one wins");
    }

    @Test
    void boldAndLatexAndPlainNumbers() {
        assertEquals("73", first("The count is **73**.").text());
        assertEquals("x \\lt 3", first("We find that $x \\lt 3$.").text());
        assertEquals("1,000.99", first("so the number is 10 which is 1,000.99m²").text());
        assertEquals("28\\%", first("$28$ percent").text());
        assertEquals(Source.NUMBER, first("I got 17 after all").source());
    }

    @Test
    void multipleChoiceLetters() {
        assertEquals('C', AnswerExtractor.choice("so the answer is (C).").orElseThrow());
        assertEquals('B', AnswerExtractor.choice("\\boxed{\\text{(B) } 12}").orElseThrow());
        assertEquals('D', AnswerExtractor.choice("**D**").orElseThrow());
        assertTrue(AnswerExtractor.choice("the answer is a prime number").isEmpty());
    }

    @Test
    void goldsAreReadLiterally() {
        assertEquals("\\frac{1}{2}", AnswerExtractor.goldCandidates("\\frac{1}{2}").getLast().text());
        assertEquals("1, 2, 3", AnswerExtractor.goldCandidates("$1$ and $2$ and $3$").getFirst().text());
        assertTrue(AnswerExtractor.goldCandidates("").isEmpty());
    }
}
