package dev.tina.runtime.text;

import dev.tina.testsupport.Shared;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChatTemplateTest {
    static final Path SHARED = Shared.ROOT;
    static final Path QWEN = SHARED.resolve("tokenizers/qwen2-bpe");
    static final Path DEEPSEEK = Path.of("src/test/resources/templates/deepseek-r1-distill-qwen");

    static final List<ChatMessage> CONVERSATION = List.of(
            ChatMessage.system("Be brief."),
            ChatMessage.user("What is 2+2?"),
            ChatMessage.assistant("<think>\nadd them\n</think>\n\n4"),
            ChatMessage.user("And 3+3?"));

    @Test
    void qwenTemplateRendersAsJinja2Does() throws Exception {
        ChatTemplate t = ChatTemplate.load(QWEN).orElseThrow();
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
                t.render(CONVERSATION.subList(0, 2), true));
        // Earlier assistant turns lose their reasoning (split('</think>')[-1].lstrip('\n')); the
        // multi-step namespace logic and reversed slice both evaluate.
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                        + "<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n",
                t.render(CONVERSATION, true));
        assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
                t.render(List.of(ChatMessage.user("Hi")), true, Map.of("enable_thinking", false)));
        assertEquals("<|im_start|>user\nHi<|im_end|>\n", t.render(List.of(ChatMessage.user("Hi")), false));
    }

    @Test
    void deepSeekR1DistillTemplateOpensThinkInThePrompt() throws Exception {
        ChatTemplate t = ChatTemplate.load(DEEPSEEK).orElseThrow();
        assertEquals("<｜begin▁of▁sentence｜>Be brief.<｜User｜>What is 2+2?<｜Assistant｜><think>\n",
                t.render(CONVERSATION.subList(0, 2), true));
        assertEquals("<｜begin▁of▁sentence｜>Be brief.<｜User｜>What is 2+2?<｜Assistant｜>\n\n4<｜end▁of▁sentence｜>"
                + "<｜User｜>And 3+3?<｜Assistant｜><think>\n", t.render(CONVERSATION, true));
        // add_generation_prompt false: `not add_generation_prompt is defined` must not reset it wrongly
        assertEquals("<｜begin▁of▁sentence｜><｜User｜>Hi", t.render(List.of(ChatMessage.user("Hi")), false));
    }

    @Test
    void compatRewritesKeepJinja2Meaning() {
        assertEquals("{% for m in (messages|reverse) %}", JinjaCompat.rewrite("{% for m in messages[::-1] %}"));
        assertEquals("{% if not (x is defined) %}", JinjaCompat.rewrite("{% if not x is defined %}"));
        assertEquals("{% if not (a.b is not none) %}", JinjaCompat.rewrite("{% if not a.b is not none %}"));
        assertEquals("{% set ns = namespace(a=(true), b=(messages|length - 1), c=('x,y')) %}",
                JinjaCompat.rewrite("{% set ns = namespace(a=true, b=messages|length - 1, c='x,y') %}"));
        assertEquals("{{ a == b }}", JinjaCompat.rewrite("{{ a == b }}"));
    }

    @Test
    void templateErrorsNameTheSource() {
        ChatTemplate t = new ChatTemplate("{{ raise_exception('roles must alternate') }}", "", "", "x/tokenizer_config.json");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.render(List.of(ChatMessage.user("a")), true));
        assertTrue(e.getMessage().contains("roles must alternate"), e.getMessage());
    }

    @Test
    void qwenTokenizerIdsAndRoundTrip() throws Exception {
        try (HfTokenizer tok = HfTokenizer.open(QWEN)) {
            assertEquals(151644, tok.tokenId("<|im_start|>"));
            assertEquals(151645, tok.tokenId("<|im_end|>"));
            assertEquals(151643, tok.tokenId("<|endoftext|>"));
            long[] ids = tok.encode("Hello world");
            assertEquals(List.of(9707L, 1879L), java.util.Arrays.stream(ids).boxed().toList());
            String text = "Solve $x^2 = 4$: \\boxed{2} — ünïcödé 数学 🙂\n</think>\n";
            assertEquals(text, tok.decode(tok.encode(text), false));
            // a long input is never truncated (DJL truncates to 512 by default)
            String longText = "word ".repeat(3000);
            assertEquals(longText, tok.decode(tok.encode(longText), false));
            assertTrue(tok.encode(longText).length >= 3000);
        }
    }
}
