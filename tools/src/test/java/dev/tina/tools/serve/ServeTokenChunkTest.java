package dev.tina.tools.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** A token event written from its pre-built parts is byte for byte the event Jackson writes for the whole chunk. */
class ServeTokenChunkTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> TEXTS = List.of("", "a", " the", "\"quoted\" \\ back/slash", "line\nbreak\ttab\r\b\f", "\u0000\u0001\u001f\u007f",
            "é ü ß 中文", "😀 emoji", "\uD83D" /* a lone high surrogate, as a cut between the halves of a pair leaves it */, "\u2028\u2029",
            "\"text\":\"\"", "\"content\":\"\"}");

    private static ObjectNode chunk(String model, boolean chat, boolean usage, int index, String text) {
        ObjectNode c = JSON.createObjectNode().put("id", "cmpl-x").put("object", chat ? "chat.completion.chunk" : "text_completion")
                .put("created", 1_700_000_000L).put("model", model).put("system_fingerprint", "tina-abc");
        ArrayNode choices = c.putArray("choices");
        if (usage) c.putNull("usage");
        ObjectNode ch = choices.addObject().put("index", index);
        if (chat) {
            ch.putObject("delta").put("content", text);
        } else {
            ch.put("text", text);
        }
        ch.putNull("logprobs");
        ch.putNull("finish_reason");
        return c;
    }

    @Test
    void equalsTheSerialisedTree() throws Exception {
        for (String model : List.of("base", "a \"model\" named \"text\":\"\" \\", "模型")) {
            for (boolean chat : new boolean[]{false, true}) {
                for (boolean usage : new boolean[]{false, true}) {
                    for (int index : new int[]{0, 3}) {
                        TokenChunk t = TokenChunk.of(JSON.writeValueAsString(chunk(model, chat, usage, index, "")),
                                chat ? "\"content\":\"\"" : "\"text\":\"\"");
                        for (String text : TEXTS) {
                            byte[] expected = ("data: " + JSON.writeValueAsString(chunk(model, chat, usage, index, text)) + "\n\n")
                                    .getBytes(StandardCharsets.UTF_8);
                            assertArrayEquals(expected, t.bytes(text), model + " " + chat + " " + usage + " " + text);
                        }
                    }
                }
            }
        }
    }
}
