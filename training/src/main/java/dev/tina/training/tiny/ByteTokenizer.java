package dev.tina.training.tiny;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.checkpoint.SafetensorsWriter;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The embedded model's tokenizer, in Hugging Face's {@code tokenizer.json} format: byte-level
 * BPE (GPT-2's byte-to-character map, as Qwen's) with no merges, so every byte is one token and
 * no text is out of vocabulary; ids 0–255 are the bytes, then the chat and reasoning tokens.
 * Arithmetic is per digit this way, which is what a model this small can learn.
 */
public final class ByteTokenizer {
    public static final String ENDOFTEXT = "<|endoftext|>", IM_START = "<|im_start|>", IM_END = "<|im_end|>",
            THINK = "<think>", END_THINK = "</think>";
    /** Added tokens in id order from 256; the think tags are not "special", so decoded text keeps them. */
    static final List<String> ADDED = List.of(ENDOFTEXT, IM_START, IM_END, THINK, END_THINK);
    public static final int VOCAB = 256 + ADDED.size();
    public static final int ENDOFTEXT_ID = 256, IM_END_ID = 258;

    /** Qwen's layout; the generation prompt opens {@code <think>} as DeepSeek-R1-Distill's does. */
    static final String CHAT_TEMPLATE = "{%- for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
            + "{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}";

    private ByteTokenizer() {}

    /** GPT-2's reversible byte → printable character map (the one every byte-level BPE uses). */
    static char byteChar(int b) {
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return (char) b;
        int n = 0;
        for (int x = 0; x < b; x++) if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
        return (char) (256 + n);
    }

    /** Writes {@code tokenizer.json} and {@code tokenizer_config.json} into {@code dir}. */
    public static void write(Path dir) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < ADDED.size(); i++) {
            String t = ADDED.get(i);
            added.addObject().put("id", 256 + i).put("content", t).put("single_word", false).put("lstrip", false)
                    .put("rstrip", false).put("normalized", false).put("special", !t.contains("think"));
        }
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", false);
        root.putNull("post_processor");
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", false);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout");
        model.putNull("unk_token").putNull("continuing_subword_prefix").putNull("end_of_word_suffix");
        model.put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int b = 0; b < 256; b++) vocab.put(String.valueOf(byteChar(b)), b);
        model.putArray("merges");
        SafetensorsWriter.writeJsonAtomically(dir.resolve("tokenizer.json"), root);

        ObjectNode cfg = json.createObjectNode();
        cfg.put("tokenizer_class", "PreTrainedTokenizerFast");
        cfg.put("bos_token", (String) null);
        cfg.put("eos_token", IM_END);
        cfg.put("pad_token", ENDOFTEXT);
        cfg.put("model_max_length", 256);
        cfg.put("chat_template", CHAT_TEMPLATE);
        SafetensorsWriter.writeJsonAtomically(dir.resolve("tokenizer_config.json"), cfg);
    }
}
