package dev.tina.export.peft;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.JsonErrors;
import dev.tina.export.checkpoint.Projection;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * PEFT's {@code adapter_config.json} for a LoRA adapter, restricted to what the exported graphs
 * can express: plain LoRA (no DoRA), no biases, one rank and alpha for all modules, targets among
 * the seven decoder projections.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record LoraConfig(
        @JsonProperty("peft_type") String peftType,
        @JsonProperty("r") int r,
        @JsonProperty("lora_alpha") double loraAlpha,
        @JsonProperty("lora_dropout") double loraDropout,
        @JsonProperty("target_modules") JsonNode targetModulesNode,
        @JsonProperty("use_rslora") boolean useRslora,
        @JsonProperty("use_dora") boolean useDora,
        @JsonProperty("bias") String bias,
        @JsonProperty("fan_in_fan_out") boolean fanInFanOut,
        @JsonProperty("rank_pattern") JsonNode rankPattern,
        @JsonProperty("alpha_pattern") JsonNode alphaPattern,
        @JsonProperty("modules_to_save") JsonNode modulesToSave,
        @JsonProperty("base_model_name_or_path") String baseModelNameOrPath) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(com.fasterxml.jackson.databind.DeserializationFeature.ACCEPT_FLOAT_AS_INT, false);

    public LoraConfig {
        if (peftType != null && !peftType.equals("LORA")) throw new CheckpointFormatException("peft_type '" + peftType + "' is not supported, expected LORA");
        if (r <= 0) throw new CheckpointFormatException("field 'r' must be > 0, got " + r);
        if (useDora) throw new CheckpointFormatException("use_dora=true is not supported (plain LoRA only)");
        if (fanInFanOut) throw new CheckpointFormatException("fan_in_fan_out=true is not supported (Conv1D layers)");
        if (bias != null && !bias.equals("none")) throw new CheckpointFormatException("bias '" + bias + "' is not supported, expected none");
        if (nonEmpty(rankPattern) || nonEmpty(alphaPattern)) {
            throw new CheckpointFormatException("rank_pattern/alpha_pattern are not supported (one rank and alpha for all modules)");
        }
        if (nonEmpty(modulesToSave)) throw new CheckpointFormatException("modules_to_save is not supported (LoRA tensors only)");
        if (targetModulesNode == null || targetModulesNode.isNull()) throw new CheckpointFormatException("missing field 'target_modules'");
    }

    private static boolean nonEmpty(JsonNode n) { return n != null && !n.isNull() && !n.isEmpty(); }

    /** A new adapter configuration, as the trainer creates one. */
    public static LoraConfig of(int r, double alpha, double dropout, List<Projection> targets, boolean rslora) {
        var arr = JSON.createArrayNode();
        targets.forEach(p -> arr.add(p.moduleName()));
        return new LoraConfig("LORA", r, alpha, dropout, arr, rslora, false, "none", false, null, null, null, null);
    }

    public static LoraConfig read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new CheckpointFormatException(file + ": not found (a PEFT adapter folder needs adapter_config.json)");
        LoraConfig c = JsonErrors.read(JSON, file, LoraConfig.class);
        try {
            c.targets(); // resolve target_modules now, so that its errors name the file
        } catch (CheckpointFormatException e) {
            throw new CheckpointFormatException(file + ": " + e.getMessage(), e);
        }
        return c;
    }

    /** The targeted projections; PEFT's string form (a regex) and "all-linear" are resolved against the seven names. */
    public List<Projection> targets() {
        if (targetModulesNode.isTextual()) {
            String s = targetModulesNode.asText();
            if (s.equals("all-linear")) return List.of(Projection.values());
            List<Projection> out = new ArrayList<>();
            for (Projection p : Projection.values()) {
                if (p.modulePath(0).matches(s) || p.moduleName().matches(s)) out.add(p);
            }
            if (out.isEmpty()) throw new CheckpointFormatException("target_modules '" + s + "' matches none of " + Projection.allNames());
            return out;
        }
        List<Projection> out = new ArrayList<>();
        for (JsonNode n : targetModulesNode) {
            try {
                out.add(Projection.fromModuleName(n.asText()));
            } catch (IllegalArgumentException e) {
                throw new CheckpointFormatException("" + e.getMessage());
            }
        }
        out.sort(null);
        return out;
    }

    /** PEFT's scaling: {@code lora_alpha / r}, or {@code lora_alpha / sqrt(r)} with rsLoRA. */
    public double scale() {
        return useRslora ? loraAlpha / Math.sqrt(r) : loraAlpha / r;
    }

    public void write(Path file) throws IOException {
        var node = JSON.createObjectNode();
        node.put("peft_type", "LORA");
        node.put("task_type", "CAUSAL_LM");
        node.put("r", r);
        node.put("lora_alpha", loraAlpha);
        node.put("lora_dropout", loraDropout);
        node.put("bias", "none");
        node.put("use_rslora", useRslora);
        node.put("use_dora", false);
        node.put("fan_in_fan_out", false);
        var arr = node.putArray("target_modules");
        targets().forEach(p -> arr.add(p.moduleName()));
        if (baseModelNameOrPath != null) node.put("base_model_name_or_path", baseModelNameOrPath);
        node.put("inference_mode", true);
        dev.tina.export.checkpoint.SafetensorsWriter.writeJsonAtomically(file, node);
    }
}
