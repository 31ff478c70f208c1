package dev.tina.runtime.text;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.tina.export.checkpoint.CheckpointFormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json} through DJL's bindings of the Rust tokenizers library:
 * offline (DJL's usage tracking off), no truncation and no padding, so ids are exactly those the
 * reference library gives. Owns the native tokenizer.
 */
public final class HfTokenizer implements AutoCloseable {
    static {
        // DJL otherwise probes a cloud metadata address on first use.
        if (System.getProperty("OPT_OUT_TRACKING") == null) System.setProperty("OPT_OUT_TRACKING", "true");
    }

    private final HuggingFaceTokenizer tokenizer;
    private final Path file;

    private HfTokenizer(HuggingFaceTokenizer tokenizer, Path file) {
        this.tokenizer = tokenizer;
        this.file = file;
    }

    /** Opens {@code dir/tokenizer.json}. */
    public static HfTokenizer open(Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) {
            throw new CheckpointFormatException(file + ": not found; without a tokenizer, give prompts as token ids (--prompt-ids)");
        }
        try {
            HuggingFaceTokenizer t = HuggingFaceTokenizer.newInstance(file, Map.of(
                    "addSpecialTokens", "false", "truncation", "false", "padding", "false", "modelMaxLength", "100000000"));
            return new HfTokenizer(t, file);
        } catch (RuntimeException e) {
            throw new CheckpointFormatException(file + ": cannot load tokenizer: " + e.getMessage(), e);
        }
    }

    public static boolean exists(Path dir) {
        return Files.isRegularFile(dir.resolve("tokenizer.json"));
    }

    /** Token ids of {@code text}, with no special tokens added (chat templates place them). */
    public long[] encode(String text) {
        Encoding e = tokenizer.encode(text, false, false);
        return e.getIds();
    }

    public String decode(long[] ids, boolean skipSpecialTokens) {
        return tokenizer.decode(ids, skipSpecialTokens);
    }

    /** The id of a single token string (e.g. an EOS token), or -1 when the vocabulary lacks it. */
    public long tokenId(String token) {
        long[] ids = tokenizer.encode(token, false, false).getIds();
        return ids.length == 1 ? ids[0] : -1;
    }

    public Path file() { return file; }

    @Override
    public void close() {
        tokenizer.close();
    }
}
