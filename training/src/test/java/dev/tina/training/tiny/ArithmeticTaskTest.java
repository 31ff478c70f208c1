package dev.tina.training.tiny;

import dev.tina.eval.grading.Grader;
import dev.tina.runtime.text.ChatMessage;
import dev.tina.runtime.text.ChatTemplate;
import dev.tina.runtime.text.HfTokenizer;
import dev.tina.training.grpo.Reward;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArithmeticTaskTest {
    @Test
    void solutionsAreCorrectInBothStylesAndGradeAsSuch() throws Exception {
        var p = new ArithmeticTask.Problem(new int[]{37, 48, 19}, new char[]{'+', '-'}, 66);
        assertEquals("What is 37+48-19?", p.question());
        assertEquals("37+48=85\n85-19=66\n</think>\n\\boxed{66}", p.completion(ArithmeticTask.Style.STEPS, true));
        assertEquals("37+48-19=66\n\\boxed{66}", p.completion(ArithmeticTask.Style.ONE_LINE, false));
        Reward.PerCompletion format = new Reward.Format();
        assertEquals(1.0, format.score(p.completion(ArithmeticTask.Style.STEPS, true), null));
        assertEquals(0.0, format.score(p.completion(ArithmeticTask.Style.STEPS, false), null));
        SplittableRandom rnd = new SplittableRandom(3);
        try (Grader g = new Grader()) {
            for (int i = 0; i < 200; i++) {
                var e = ArithmeticTask.example(rnd, ArithmeticTask.PRETRAIN);
                int acc = e.problem().operands()[0];
                for (int k = 0; k < e.problem().ops().length; k++) {
                    acc += (e.problem().ops()[k] == '+' ? 1 : -1) * e.problem().operands()[k + 1];
                    assertTrue(acc >= 0 && acc <= 999, e.problem().question());
                }
                assertEquals(acc, e.problem().answer());
                assertTrue(g.grade(String.valueOf(acc), e.completion()).correct(), e.completion());
                assertFalse(g.grade(String.valueOf(acc + 1), e.completion()).correct());
            }
        }
    }

    @Test
    void heldOutIsFixedDistinctHardAndAPrefixOfThePool() {
        List<ArithmeticTask.Problem> a = ArithmeticTask.heldOut(300), b = ArithmeticTask.heldOut(ArithmeticTask.HELD_OUT_POOL);
        for (int i = 0; i < 300; i++) assertEquals(a.get(i).question(), b.get(i).question());
        assertEquals(300, a.stream().map(ArithmeticTask.Problem::question).distinct().count());
        assertTrue(a.stream().allMatch(p -> p.operands().length >= 3));
        Set<String> held = ArithmeticTask.heldOutQuestions();
        var train = ArithmeticTask.problems(77, 500, ArithmeticTask.HARD, held);
        assertTrue(train.stream().noneMatch(p -> held.contains(p.question())));
    }

    @Test
    void byteTokenizerRoundTripsAndTheChatTemplateRendersThePromptTheTrainerUses(@TempDir Path dir) throws Exception {
        ByteTokenizer.write(dir);
        try (HfTokenizer tok = HfTokenizer.open(dir)) {
            String text = "What is 37+48-19? é\n";
            long[] ids = tok.encode(text);
            assertEquals(text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length, ids.length, "one token per byte");
            assertEquals(text, tok.decode(ids, true));
            String done = "37+48=85\n</think>\n\\boxed{85}" + ByteTokenizer.IM_END;
            long[] d = tok.encode(done);
            assertEquals(ByteTokenizer.IM_END_ID, d[d.length - 1]);
            assertTrue(tok.decode(d, true).contains("</think>"), "think tags survive decoding");
            assertEquals(ByteTokenizer.IM_END_ID, tok.tokenId(ByteTokenizer.IM_END));
            String rendered = ChatTemplate.load(dir).orElseThrow().render(List.of(ChatMessage.user("What is 1+2?")), true);
            assertEquals(HeldOutEval.promptText("What is 1+2?"), rendered);
            assertArrayEquals(tok.encode(rendered), tok.encode(HeldOutEval.promptText("What is 1+2?")));
        }
    }
}
