package dev.tina.training.grpo;

import dev.tina.eval.grading.Grader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class RewardTest {
    static final Grader GRADER = new Grader();

    @AfterAll
    static void close() { GRADER.close(); }

    /** The prompt (DeepSeek-R1-Distill's template) already opened <think>; the completion closes it. */
    @Test
    void formatCountsTheClosingTagOnceWithTheRealTemplate() throws Exception {
        var t = dev.tina.runtime.text.ChatTemplate.load(java.nio.file.Path.of("../runtime/src/test/resources/templates/deepseek-r1-distill-qwen")).orElseThrow();
        String prompt = t.render(List.of(dev.tina.runtime.text.ChatMessage.user("What is 1+1?")), true);
        assertEquals(true, prompt.endsWith("<think>\n"));
        Reward.PerCompletion f = new Reward.Format();
        assertEquals(1.0, f.score("1 plus 1 is 2.\n</think>\n\nThe answer is \\boxed{2}.", "2"));
        assertEquals(0.0, f.score("no closing tag \\boxed{2}", "2"));
        assertEquals(0.0, f.score("a\n</think>\nb\n</think>\n", "2"));
    }

    @Test
    void accuracyAndCosineFollowTheGrader() {
        assertEquals(1.0, new Reward.Accuracy(GRADER).score("so \\boxed{4}", "4"));
        assertEquals(0.0, new Reward.Accuracy(GRADER).score("so \\boxed{5}", "4"));
        Reward.PerCompletion cos = new Reward.Cosine(GRADER, 100);
        assertEquals(1.0, cos.score("\\boxed{4}", "4"), 0.01);                   // short and right
        assertEquals(0.5, cos.score("x".repeat(100) + "\\boxed{4}", "4"), 1e-9); // at max length
        assertEquals(0.0, cos.score("\\boxed{5}", "4"), 0.01);                   // short and wrong
        assertEquals(-0.5, cos.score("x".repeat(100) + "\\boxed{5}", "4"), 1e-9);
    }

    @Test
    void formatShapeRewards() {
        assertEquals(1.0, new Reward.TagCount().score("<think>\nhmm\n</think>\n<answer>\n4\n</answer>", ""));
        assertEquals(0.25, new Reward.TagCount().score("<think>\nhmm", ""));
        assertEquals(1.0, new Reward.ReasoningSteps().score("Step 1: a\nStep 2: b\nStep 3: c", ""));
        assertEquals(1.0 / 3, new Reward.ReasoningSteps().score("First, we add.", ""), 1e-12);
        assertEquals(0.0, new Reward.RepetitionPenalty(3, 1.0).score("a b c d e f", ""));
        assertEquals(-0.25, new Reward.RepetitionPenalty(3, 1.0).score("a b c a b c", ""), 1e-12); // 3 distinct of 4 trigrams
    }

    @Test
    void kimiLengthRewardScoresWithinTheGroup() {
        var kimi = new Reward.KimiLength(GRADER);
        double[] v = kimi.scoreGroup(List.of("\\boxed{4}", "xxxxxxxxxx\\boxed{4}", "\\boxed{5}", "xxxxxxxxxx\\boxed{5}"), "4");
        assertEquals(0.5, v[0], 1e-12);   // shortest, right
        assertEquals(-0.5, v[1], 1e-12);  // longest, right
        assertEquals(0.0, v[2], 1e-12);   // shortest, wrong: min(0, 0.5)
        assertEquals(-0.5, v[3], 1e-12);  // longest, wrong
        assertEquals(0.0, kimi.scoreGroup(List.of("a", "b"), "4")[0], 0.0); // equal lengths: no signal
    }
}
