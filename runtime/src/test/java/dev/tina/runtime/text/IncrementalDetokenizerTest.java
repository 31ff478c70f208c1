package dev.tina.runtime.text;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.testsupport.Shared;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The text streamed token by token is, at every token, a prefix of the whole sequence's decoding,
 * and all of it once the last token's characters are complete: on Qwen's byte-level BPE (real text
 * and random ids, many of them bytes of split UTF-8 sequences) and on a Llama-2-style SentencePiece
 * tokenizer (leading-space stripping, byte fallback of whole characters), skipping special tokens or not.
 */
class IncrementalDetokenizerTest {
    static HfTokenizer qwen, sentencePiece;
    
    @BeforeAll
    static void open(@TempDir Path dir) throws Exception {
        qwen = HfTokenizer.open(Shared.path("tokenizers/qwen2-bpe"));
        Path sp = Files.createDirectories(dir.resolve("sp"));
        writeSentencePieceTokenizer(sp.resolve("tokenizer.json"));
        sentencePiece = HfTokenizer.open(sp);
    }

    @AfterAll
    static void close() {
        qwen.close();
        sentencePiece.close();
    }

    @Test
    void realTextStreamsToItsWholeDecoding() throws Exception {
        List<String> texts = new ArrayList<>(Files.readAllLines(Shared.path("data/math500/test.jsonl")).subList(0, 40));
        texts.add("Größe: 3 €, 東京 🙂🙂 — naïve ∑_{i=1}^n i² = n(n+1)(2n+1)/6 ✓ <|im_end|> done");
        for (String t : texts) {
            long[] ids = qwen.encode(t);
            assertStreams(qwen, ids, true);
            assertStreams(qwen, ids, false);
            assertEquals(qwen.decode(ids, false), stream(qwen, ids, false));
        }
    }

    @Test
    void randomByteLevelIdsStreamAsAPrefixOfTheirDecoding() {
        SplittableRandom rng = new SplittableRandom(7);
        for (int seq = 0; seq < 60; seq++) {
            long[] ids = new long[1 + rng.nextInt(120)];
            // half from the 256 byte symbols (split UTF-8 sequences, stray continuation bytes), half anywhere,
            // special tokens included
            for (int i = 0; i < ids.length; i++) ids[i] = rng.nextBoolean() ? rng.nextInt(256) : rng.nextInt(151_665);
            assertStreams(qwen, ids, seq % 2 == 0);
        }
    }

    @Test
    void sentencePieceLeadingSpacesAndByteFallback() {
        // "▁Hello" "▁" "▁world" then € as three byte tokens, then "!" : "Hello  world€!"
        long[] ids = {id("▁Hello"), id("▁"), id("▁world"), byteId(0xE2), byteId(0x82), byteId(0xAC), id("!")};
        IncrementalDetokenizer d = new IncrementalDetokenizer(sentencePiece, true);
        List<String> deltas = new ArrayList<>();
        for (long id : ids) deltas.add(d.append(id));
        assertEquals(List.of("Hello", " ", " world", "", "", "€", "!"), deltas);
        assertEquals(sentencePiece.decode(ids, true), d.text().toString());
        // random pieces, special tokens and characters outside the vocabulary as their UTF-8 bytes (as a SentencePiece
        // model emits them: whole characters). While a character's bytes are incomplete, byte fallback decodes the whole
        // run of byte tokens as U+FFFD, so only the final decoding is compared.
        SplittableRandom rng = new SplittableRandom(11);
        for (int seq = 0; seq < 80; seq++) {
            List<Long> r = new ArrayList<>();
            for (int unit = 1 + rng.nextInt(40); unit > 0; unit--) {
                int kind = rng.nextInt(4);
                if (kind == 0) {
                    int cp = rng.nextBoolean() ? 0x80 + rng.nextInt(0x780) : rng.nextBoolean() ? 0x800 + rng.nextInt(0xD000) : 0x10000 + rng.nextInt(0x10000);
                    for (byte b : new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8)) r.add(byteId(b & 0xFF));
                } else if (kind == 1 && rng.nextInt(4) == 0) {
                    r.add((long) rng.nextInt(3));
                } else {
                    r.add(id(PIECES.get(rng.nextInt(PIECES.size()))));
                }
            }
            assertStreams(sentencePiece, r.stream().mapToLong(Long::longValue).toArray(), seq % 2 == 0, false);
        }
    }

    @Test
    void waitsForIncompleteCharactersAndSaysSo() {
        IncrementalDetokenizer d = new IncrementalDetokenizer(sentencePiece, true);
        assertEquals("", d.append(byteId(0xE2)));
        assertTrue(d.pending());
        assertEquals("", d.append(byteId(0x82)));
        assertEquals("€", d.append(byteId(0xAC)));
        assertFalse(d.pending());
        assertEquals(3, d.tokenCount());
        assertEquals(List.of(byteId(0xE2), byteId(0x82), byteId(0xAC)), Arrays.stream(d.tokens()).boxed().toList());
    }

    static void assertStreams(HfTokenizer t, long[] ids, boolean skipSpecial) { assertStreams(t, ids, skipSpecial, true); }

    /**
     * The streamed text is the deltas joined, a prefix of the final decoding at every token, and all of it
     * at the end unless characters are incomplete; with {@code everyPrefix}, also of the decoding of each
     * prefix of the sequence (and equal to it whenever nothing is pending).
     */
    static void assertStreams(HfTokenizer t, long[] ids, boolean skipSpecial, boolean everyPrefix) {
        IncrementalDetokenizer d = new IncrementalDetokenizer(t, skipSpecial);
        String last = t.decode(ids, skipSpecial);
        StringBuilder joined = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            joined.append(d.append(ids[i]));
            String sent = d.text().toString();
            assertEquals(joined.toString(), sent);
            assertTrue(last.startsWith(sent), () -> "not a prefix of the final text after " + d.tokenCount() + " tokens of "
                    + Arrays.toString(ids) + ":\n sent  " + sent + "\n final " + last);
            if (everyPrefix) {
                String whole = t.decode(Arrays.copyOf(ids, i + 1), skipSpecial);
                assertTrue(whole.startsWith(sent), () -> "not a prefix after " + d.tokenCount() + " tokens of " + Arrays.toString(ids)
                        + ":\n sent  " + sent + "\n whole " + whole);
                if (!d.pending()) assertEquals(whole, sent, () -> "nothing pending, yet the text differs: " + Arrays.toString(ids));
            }
        }
        if (!d.pending()) assertEquals(last, d.text().toString(), () -> "nothing pending at the end: " + Arrays.toString(ids));
    }

    static String stream(HfTokenizer t, long[] ids, boolean skipSpecial) {
        IncrementalDetokenizer d = new IncrementalDetokenizer(t, skipSpecial);
        for (long id : ids) d.append(id);
        return d.text().toString();
    }

    static final List<String> PIECES = List.of("▁", "▁Hello", "▁world", "▁the", "▁a", "Hello", "world", "the", "a", "b", "!", ".", "▁=", "1", "2");

    static long id(String piece) { return 3 + 256 + PIECES.indexOf(piece); }

    static long byteId(int b) { return 3 + b; }

    /** A Llama-2-style tokenizer.json: SentencePiece pieces, byte fallback tokens, decoder Replace, ByteFallback, Fuse, Strip. */
    static void writeSentencePieceTokenizer(Path file) throws Exception {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        root.put("version", "1.0").putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        String[] specials = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < specials.length; i++) {
            added.addObject().put("id", i).put("content", specials[i]).put("single_word", false).put("lstrip", false)
                    .put("rstrip", false).put("normalized", false).put("special", true);
        }
        ObjectNode norm = root.putObject("normalizer").put("type", "Sequence");
        ArrayNode ns = norm.putArray("normalizers");
        ns.addObject().put("type", "Prepend").put("prepend", "▁");
        ns.addObject().put("type", "Replace").<ObjectNode>set("pattern", json.createObjectNode().put("String", " ")).put("content", "▁");
        root.putNull("pre_tokenizer");
        root.putNull("post_processor");
        ObjectNode dec = root.putObject("decoder").put("type", "Sequence");
        ArrayNode ds = dec.putArray("decoders");
        ds.addObject().put("type", "Replace").<ObjectNode>set("pattern", json.createObjectNode().put("String", "▁")).put("content", " ");
        ds.addObject().put("type", "ByteFallback");
        ds.addObject().put("type", "Fuse");
        ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        ObjectNode model = root.putObject("model").put("type", "BPE").putNull("dropout");
        model.put("unk_token", "<unk>").putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", true).put("byte_fallback", true).put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        int next = 0;
        for (String s : specials) vocab.put(s, next++);
        for (int b = 0; b < 256; b++) vocab.put(String.format("<0x%02X>", b), next++);
        for (String p : PIECES) vocab.put(p, next++);
        model.putArray("merges");
        Files.writeString(file, json.writeValueAsString(root));
    }
}
