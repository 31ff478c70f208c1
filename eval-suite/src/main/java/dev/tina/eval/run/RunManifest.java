package dev.tina.eval.run;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * {@code run.json}: what a run folder's samples were made with. A later invocation on the same folder resumes
 * only when every pinned field is equal (else it stops and names the field), so samples from different settings
 * can never mix. Variants are added as they are first evaluated; an adapter name seen before must have the same
 * SHA-256.
 */
public final class RunManifest {
    public static final String FILE = "run.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private RunManifest() {}

    /** The pinned fields of a run. */
    public static ObjectNode pinned(EvalSettings s, ModelInfo model, List<BenchmarkInfo> benchmarks, String promptDigest, String graderVersion) {
        ObjectNode o = JSON.createObjectNode();
        o.put("format", "tina-eval-run/1");
        o.put("model_fingerprint", model.fingerprint());
        var bs = o.putArray("benchmarks");
        for (BenchmarkInfo b : benchmarks) bs.addObject().put("name", b.name()).put("sha256", b.sha256()).put("problems", b.problems());
        o.put("limit", s.limit());
        o.put("n_samples", s.samples());
        o.put("max_new_tokens", s.maxNewTokens());
        o.put("temperature", s.temperature());
        o.put("top_p", s.topP());
        o.put("seed", s.seed());
        o.put("chat", s.chat());
        o.put("system", s.system());
        o.put("prompt_templates_sha256", promptDigest);
        o.put("grader_version", graderVersion);
        return o;
    }

    /** A benchmark as pinned: its data file's digest and how many problems the run takes from it. */
    public record BenchmarkInfo(String name, String label, String source, String sha256, int problems) {}

    /** Creates {@code run.json}, or checks the existing one against {@code pinned} and the variants; records new variants. */
    public static void check(Path dir, ObjectNode pinned, List<Variant> variants) throws IOException {
        Path file = dir.resolve(FILE);
        ObjectNode stored;
        if (Files.exists(file)) {
            JsonNode n;
            try {
                n = JSON.readTree(file.toFile());
            } catch (JacksonException e) {
                throw new IllegalArgumentException(file + ": not valid JSON (" + e.getOriginalMessage() + "); this folder cannot be resumed, use another --out");
            }
            if (!(n instanceof ObjectNode o)) throw new IllegalArgumentException(file + ": not a JSON object; use another --out");
            stored = o;
            // compare as read back from disk, so that e.g. a long and an int of equal value are equal
            JsonNode want = JSON.readTree(JSON.writeValueAsString(pinned));
            for (Map.Entry<String, JsonNode> e : want.properties()) {
                JsonNode old = stored.get(e.getKey());
                if (!e.getValue().equals(old)) {
                    throw new IllegalArgumentException(file + ": this folder holds a run with " + e.getKey() + " = " + old + ", this command has "
                            + e.getValue() + "; resume with the same settings or use another --out");
                }
            }
        } else {
            Files.createDirectories(dir);
            stored = pinned.deepCopy();
            stored.putObject("variants");
        }
        ObjectNode known = stored.has("variants") && stored.get("variants").isObject() ? (ObjectNode) stored.get("variants") : stored.putObject("variants");
        for (Variant v : variants) {
            JsonNode old = known.get(v.name());
            String sha = v.sha256() == null ? "none" : v.sha256();
            if (old != null && !old.asText().equals(sha)) {
                throw new IllegalArgumentException(file + ": variant '" + v.name() + "' was evaluated here with adapter sha256 " + old.asText()
                        + ", now " + sha + "; use another --out (or another adapter folder name)");
            }
            known.put(v.name(), sha);
        }
        dev.tina.export.AtomicFiles.write(file, tmp -> JSON.writeValue(tmp.toFile(), stored));
    }
}
