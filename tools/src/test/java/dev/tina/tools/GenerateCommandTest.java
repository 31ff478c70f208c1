package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.init.RandomCheckpoint;
import dev.tina.runtime.text.HfTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tina generate} end to end: text and chat prompts through a real tokenizer, ids without one, bad input. */
class GenerateCommandTest {
    static final Path SHARED = CommandsTest.SHARED;
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir static Path tmp;
    static Path qwenTiny;

    /** A random-weight Qwen2 with the real Qwen vocabulary and tokenizer, small enough for a unit test. */
    @BeforeAll
    static void makeModel() throws Exception {
        Path cfg = tmp.resolve("qwen-tiny.json");
        Files.writeString(cfg, """
                {"architectures": ["Qwen2ForCausalLM"], "vocab_size": 151936, "hidden_size": 16, "intermediate_size": 32,
                 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-6,
                 "rope_theta": 10000.0, "tie_word_embeddings": true, "max_position_embeddings": 64,
                 "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu"}""");
        qwenTiny = tmp.resolve("qwen-tiny");
        RandomCheckpoint.write(cfg, qwenTiny, DType.F32, 1, 1, false);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
            Files.copy(SHARED.resolve("tokenizers/qwen2-bpe").resolve(f), qwenTiny.resolve(f));
        }
    }

    /** Runs {@code tina args...} in-process with stdout and stderr captured. */
    static Cli.Run tina(String... args) { return Cli.tina(args); }

    static List<JsonNode> lines(String s) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String l : s.split("\n")) if (!l.isBlank()) out.add(JSON.readTree(l));
        return out;
    }

    @Test
    void chatPromptsThroughTheRealTokenizerGiveTextAndLogprobs(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out.jsonl");
        Cli.Run r = tina("generate", "--model", qwenTiny.toString(), "--prompt", "What is 2+2?", "--chat", "--n", "3",
                "--temperature", "0.7", "--max-new-tokens", "6", "--seed", "5", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        List<JsonNode> rows = lines(Files.readString(out));
        assertEquals(3, rows.size());
        for (JsonNode row : rows) {
            assertEquals(row.get("token_ids").size(), row.get("logprobs").size());
            assertTrue(row.has("text") && row.has("finish_reason"), row.toString());
            for (JsonNode lp : row.get("logprobs")) assertTrue(lp.asDouble() <= 0);
        }
        // the same command again gives the same completions (seeded)
        Path again = dir.resolve("again.jsonl");
        tina("generate", "--model", qwenTiny.toString(), "--prompt", "What is 2+2?", "--chat", "--n", "3",
                "--temperature", "0.7", "--max-new-tokens", "6", "--seed", "5", "--out", again.toString());
        assertEquals(Files.readString(out), Files.readString(again));
    }

    @Test
    void promptsFileWithTextIdsAndMessagesAndAStopStringThatNeverOccurs(@TempDir Path dir) throws Exception {
        Path prompts = dir.resolve("p.jsonl");
        Files.writeString(prompts, """
                {"prompt": "Once upon a time"}
                {"prompt_ids": [9707, 1879]}
                {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}
                """);
        Cli.Run r = tina("generate", "--model", qwenTiny.toString(), "--prompts", prompts.toString(), "--greedy",
                "--max-new-tokens", "5", "--stop", "this string never appears in five tokens");
        assertEquals(0, r.code(), r.err());
        List<JsonNode> rows = lines(r.out());
        assertEquals(3, rows.size());
        for (JsonNode row : rows) {
            // documented: an unmatched stop string simply never fires; the length limit ends the completion
            assertTrue(row.get("token_ids").size() == 5 && row.get("finish_reason").asText().equals("length")
                    || row.get("finish_reason").asText().equals("stop"), row.toString());
        }
        assertNotEquals(rows.get(0).get("token_ids"), rows.get(1).get("token_ids"));
    }

    /**
     * Stop strings cut each sample at the first occurrence of any of them, at the token where it first
     * appears: the same seeded samples without stop strings, cut in the test, are the oracle (random
     * weights over the real vocabulary give multi-character, byte and special tokens).
     */
    @Test
    void stopStringsCutEachSampleAtTheFirstOccurrence(@TempDir Path dir) throws Exception {
        String[] common = {"generate", "--model", qwenTiny.toString(), "--prompt", "Once upon a time", "--n", "8", "--seed", "21",
                "--temperature", "1.0", "--top-p", "1", "--max-new-tokens", "40"};
        List<JsonNode> free = lines(tina(common).out());
        String t0 = free.get(0).get("text").asText(), t1 = free.get(1).get("text").asText();
        String s1 = t0.substring(t0.length() / 2, t0.length() / 2 + 3), s2 = t1.substring(t1.length() / 3, t1.length() / 3 + 2);
        List<JsonNode> cut = lines(tina(Stream.concat(Arrays.stream(common),
                Stream.of("--stop", s1, "--stop", s2)).toArray(String[]::new)).out());
        assertEquals(8, cut.size());
        int stopped = 0;
        try (HfTokenizer tok = HfTokenizer.open(qwenTiny)) {
            for (int i = 0; i < 8; i++) {
                String text = free.get(i).get("text").asText();
                int at = firstOf(text, s1, s2);
                JsonNode c = cut.get(i);
                if (at < 0) {
                    assertEquals(free.get(i), c, "no stop string in sample " + i);
                    continue;
                }
                stopped++;
                assertEquals(text.substring(0, at), c.get("text").asText(), "sample " + i + " cut at " + at);
                assertEquals("stop", c.get("finish_reason").asText());
                long[] ids = longs(free.get(i).get("token_ids"));
                int m = 1;
                while (firstOf(tok.decode(Arrays.copyOf(ids, m), true), s1, s2) < 0) m++;
                assertEquals(Arrays.toString(Arrays.copyOf(ids, m)).replace(" ", ""), c.get("token_ids").toString(), "sample " + i + " ends at the token completing the stop string");
            }
        }
        assertTrue(stopped >= 2, "both stop strings fire (samples 0 and 1 at least): " + stopped);
    }

    static int firstOf(String text, String... stops) {
        int cut = -1;
        for (String s : stops) {
            int at = text.indexOf(s);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        return cut;
    }

    static long[] longs(JsonNode a) {
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asLong();
        return out;
    }

    @Test
    void idsWorkWithoutATokenizer() throws Exception {
        Cli.Run r = tina("generate", "--model", SHARED.resolve("models/stories15M").toString(), "--prompt-ids", "1,9038,2501,263,931",
                "--greedy", "--max-new-tokens", "8");
        assertEquals(0, r.code(), r.err());
        JsonNode row = lines(r.out()).getFirst();
        assertEquals("[29892,727,471,263,2217,7826,4257,365]", row.get("token_ids").toString()); // llama2.c's continuation
        assertTrue(!row.has("text"));
    }

    @Test
    void badRequestsAreOneLineErrors(@TempDir Path dir) throws Exception {
        String model = qwenTiny.toString();
        assertBad(tina("generate", "--model", dir.resolve("nope").toString(), "--prompt-ids", "1"), "no such model folder");
        Files.createDirectories(dir.resolve("empty"));
        assertBad(tina("generate", "--model", dir.resolve("empty").toString(), "--prompt-ids", "1"), "neither a Hugging Face model folder");
        assertBad(tina("generate", "--model", model, "--prompt", "word ".repeat(80), "--max-new-tokens", "4"), "context is 64");
        assertBad(tina("generate", "--model", model, "--prompt-ids", "1", "--max-new-tokens", "4", "--n", "0"), "n must be >= 1");
        assertBad(tina("generate", "--model", model, "--prompt-ids", "1", "--max-new-tokens", "4", "--temperature", "-1"), "temperature must be >= 0");
        assertBad(tina("generate", "--model", model, "--prompt-ids", "1", "--max-new-tokens", "4", "--adapter", SHARED.resolve("fixtures/qwen2-small/adapter").toString()),
                "lora_A.weight");
        assertBad(tina("generate", "--model", SHARED.resolve("models/stories15M").toString(), "--prompt", "hello"), "tokenizer.json");
        Path bad = dir.resolve("bad.jsonl");
        Files.writeString(bad, "{\"prompt\": \"ok\"}\n{not json\n");
        assertBad(tina("generate", "--model", model, "--prompts", bad.toString()), "line 2");
        assertBad(tina("generate", "--model", model, "--prompt-ids", "1", "--max-new-tokens", "4", "--device", "cuda"), "CUDA");
    }

    static void assertBad(Cli.Run r, String expected) {
        assertNotEquals(0, r.code(), "exit code; stderr: " + r.err());
        String err = r.err().strip();
        assertTrue(err.lines().count() == 1 && err.contains(expected), "stderr: " + err);
    }
}
