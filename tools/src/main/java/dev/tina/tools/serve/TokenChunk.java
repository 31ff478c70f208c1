package dev.tina.tools.serve;

import com.fasterxml.jackson.core.io.JsonStringEncoder;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The server-sent event of one streamed token, serialised once per request and sample: the bytes
 * before and after the empty text of a chunk that Jackson wrote, with only the token's text
 * escaped per event (Jackson's own string escaping), so the event is byte for byte the one
 * Jackson writes for the whole object, without building and serialising a tree per token.
 */
final class TokenChunk {
    private final byte[] before, after;

    private TokenChunk(byte[] before, byte[] after) {
        this.before = before;
        this.after = after;
    }

    /**
     * {@code json}: the chunk with an empty text; {@code field}: the text's member with its empty
     * value ({@code "text":""}), its last occurrence (nothing but constant members follows it).
     */
    static TokenChunk of(String json, String field) {
        int at = json.lastIndexOf(field);
        if (at < 0) throw new IllegalArgumentException("no " + field + " in " + json);
        int value = at + field.length() - 2; // the opening quote of the empty value
        return new TokenChunk(("data: " + json.substring(0, value)).getBytes(StandardCharsets.UTF_8),
                (json.substring(value + 2) + "\n\n").getBytes(StandardCharsets.UTF_8));
    }

    /** Writes the event for {@code text}; the caller flushes. */
    void write(OutputStream out, String text) throws IOException {
        out.write(before);
        out.write(encode(text));
        out.write(after);
    }

    /** The event as bytes (tests). */
    byte[] bytes(String text) {
        byte[] mid = encode(text), all = new byte[before.length + mid.length + after.length];
        System.arraycopy(before, 0, all, 0, before.length);
        System.arraycopy(mid, 0, all, before.length, mid.length);
        System.arraycopy(after, 0, all, before.length + mid.length, after.length);
        return all;
    }

    private static byte[] encode(String text) {
        // as a String first, as the tree path does: a lone surrogate becomes '?' the same way
        return ('"' + new String(JsonStringEncoder.getInstance().quoteAsString(text)) + '"').getBytes(StandardCharsets.UTF_8);
    }
}
