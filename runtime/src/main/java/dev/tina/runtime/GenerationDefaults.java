package dev.tina.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.checkpoint.JsonErrors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Sampling defaults from a model's {@code generation_config.json}, as transformers reads them:
 * {@code do_sample=false} means greedy; absent file means temperature 1, no truncation.
 */
public record GenerationDefaults(boolean doSample, double temperature, double topP, int topK, double minP,
                                 Integer maxNewTokens, List<Long> eosTokenIds) {

    public static GenerationDefaults read(Path dir) throws IOException {
        Path f = dir.resolve("generation_config.json");
        if (!Files.isRegularFile(f)) return new GenerationDefaults(true, 1.0, 1.0, 0, 0.0, null, List.of());
        JsonNode n;
        try {
            n = new ObjectMapper().readTree(f.toFile());
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new dev.tina.export.checkpoint.CheckpointFormatException(f + ": " + JsonErrors.describe(e), e);
        }
        List<Long> eos = new ArrayList<>();
        JsonNode e = n.get("eos_token_id");
        if (e != null && e.isArray()) e.forEach(x -> eos.add(x.asLong()));
        else if (e != null && e.canConvertToLong()) eos.add(e.asLong());
        return new GenerationDefaults(n.path("do_sample").asBoolean(false), n.path("temperature").asDouble(1.0),
                n.path("top_p").asDouble(1.0), n.path("top_k").asInt(0), n.path("min_p").asDouble(0.0),
                n.has("max_new_tokens") ? n.get("max_new_tokens").asInt() : null, eos);
    }
}
