package dev.tina.export.checkpoint;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** The seven linear projections of a decoder layer that LoRA can target (PEFT's module names). */
public enum Projection {
    Q_PROJ("self_attn"), K_PROJ("self_attn"), V_PROJ("self_attn"), O_PROJ("self_attn"),
    GATE_PROJ("mlp"), UP_PROJ("mlp"), DOWN_PROJ("mlp");

    private final String block;

    Projection(String block) { this.block = block; }

    /** PEFT's target-module name: {@code q_proj}, {@code down_proj}, ... */
    public String moduleName() { return name().toLowerCase(Locale.ROOT); }

    /** The module path inside layer {@code i}: {@code model.layers.3.self_attn.q_proj}. */
    public String modulePath(int layer) { return "model.layers." + layer + "." + block + "." + moduleName(); }

    public int inFeatures(ModelConfig c) {
        return switch (this) {
            case Q_PROJ, K_PROJ, V_PROJ, GATE_PROJ, UP_PROJ -> c.hiddenSize();
            case O_PROJ -> c.numAttentionHeads() * c.headDim();
            case DOWN_PROJ -> c.intermediateSize();
        };
    }

    public int outFeatures(ModelConfig c) {
        return switch (this) {
            case Q_PROJ -> c.numAttentionHeads() * c.headDim();
            case K_PROJ, V_PROJ -> c.numKeyValueHeads() * c.headDim();
            case O_PROJ, DOWN_PROJ -> c.hiddenSize();
            case GATE_PROJ, UP_PROJ -> c.intermediateSize();
        };
    }

    public boolean hasBias(ModelConfig c) {
        return switch (this) {
            case Q_PROJ, K_PROJ, V_PROJ -> c.qkvBias();
            default -> false;
        };
    }

    public static Projection fromModuleName(String s) {
        for (Projection p : values()) if (p.moduleName().equals(s)) return p;
        throw new IllegalArgumentException("unknown target module '" + s + "', expected one of " + allNames());
    }

    /** Parses a comma-separated list; "all" means all seven, "none" or "" means no LoRA inputs. */
    public static List<Projection> parseList(String csv) {
        String s = csv.trim();
        if (s.isEmpty() || s.equals("none")) return List.of();
        if (s.equals("all") || s.equals("all-linear")) return List.of(values());
        List<Projection> out = new ArrayList<>();
        for (String part : s.split(",")) {
            Projection p = fromModuleName(part.trim());
            if (!out.contains(p)) out.add(p);
        }
        out.sort(null);
        return List.copyOf(out);
    }

    public static String allNames() {
        return Arrays.stream(values()).map(Projection::moduleName).collect(Collectors.joining(", "));
    }
}
