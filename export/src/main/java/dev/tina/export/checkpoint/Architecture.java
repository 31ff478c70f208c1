package dev.tina.export.checkpoint;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The decoder families the exporter builds. Qwen2 is Llama plus biases on the q, k and v
 * projections; everything else is shared.
 */
public enum Architecture {
    LLAMA("LlamaForCausalLM"),
    QWEN2("Qwen2ForCausalLM");

    private final String hfName;

    Architecture(String hfName) { this.hfName = hfName; }

    public String hfName() { return hfName; }

    public static Architecture fromHf(String name, String where) {
        for (Architecture a : values()) if (a.hfName.equals(name)) return a;
        throw new CheckpointFormatException((where == null ? "" : where + ": ") + "unsupported architecture '" + name + "', supported: "
                + Arrays.stream(values()).map(Architecture::hfName).collect(Collectors.joining(", ")));
    }
}
