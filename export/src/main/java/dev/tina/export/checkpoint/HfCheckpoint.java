package dev.tina.export.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The weights of a Hugging Face checkpoint folder: one {@code model.safetensors}, or the shards
 * named by {@code model.safetensors.index.json}. Each shard is opened (memory-mapped) once and
 * closed with this object.
 */
public final class HfCheckpoint implements AutoCloseable {
    private final Path dir;
    private final ModelConfig config;
    private final List<SafetensorsFile> files;
    private final Map<String, TensorView> tensors;

    private HfCheckpoint(Path dir, ModelConfig config, List<SafetensorsFile> files, Map<String, TensorView> tensors) {
        this.dir = dir;
        this.config = config;
        this.files = files;
        this.tensors = tensors;
    }

    public static HfCheckpoint open(Path dir) throws IOException {
        ModelConfig config = ModelConfig.read(dir.resolve("config.json"));
        List<Path> shardPaths = weightFiles(dir);
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, TensorView> tensors = new LinkedHashMap<>();
        try {
            for (Path p : shardPaths) {
                SafetensorsFile f = SafetensorsFile.open(p);
                files.add(f);
                for (var e : f.tensors().entrySet()) {
                    TensorView prev = tensors.put(e.getKey(), e.getValue());
                    if (prev != null) {
                        throw new CheckpointFormatException(p + ": tensor '" + e.getKey() + "' also appears in " + prev.file());
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
        return new HfCheckpoint(dir, config, files, Collections.unmodifiableMap(tensors));
    }

    /** The safetensors files of a checkpoint folder, in shard order. */
    public static List<Path> weightFiles(Path dir) throws IOException {
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(index)) {
            JsonNode root;
            try {
                root = new ObjectMapper().readTree(index.toFile());
            } catch (IOException e) {
                throw new CheckpointFormatException(index + ": not valid JSON: " + e.getMessage());
            }
            JsonNode map = root == null ? null : root.get("weight_map");
            if (map == null || !map.isObject()) throw new CheckpointFormatException(index + ": missing object field 'weight_map'");
            TreeSet<String> names = new TreeSet<>();
            map.fields().forEachRemaining(e -> names.add(e.getValue().asText()));
            List<Path> out = new ArrayList<>();
            for (String n : names) {
                Path p = dir.resolve(n).normalize();
                if (!p.startsWith(dir.normalize())) throw new CheckpointFormatException(index + ": shard '" + n + "' lies outside " + dir);
                if (!Files.isRegularFile(p)) throw new CheckpointFormatException(index + ": shard '" + n + "' does not exist");
                out.add(p);
            }
            return out;
        }
        if (Files.isRegularFile(single)) return List.of(single);
        if (Files.exists(dir.resolve("pytorch_model.bin"))) {
            throw new CheckpointFormatException(dir + ": only pytorch_model.bin found; convert it to safetensors first (pickle files are not read)");
        }
        throw new CheckpointFormatException(dir + ": no model.safetensors or model.safetensors.index.json");
    }

    public Path dir() { return dir; }

    public ModelConfig config() { return config; }

    public Map<String, TensorView> tensors() { return tensors; }

    /** The named tensor, checked against the expected shape. */
    public TensorView tensor(String name, long... expectedShape) {
        TensorView t = tensors.get(name);
        if (t == null) {
            Path where = files.size() == 1 ? files.getFirst().path() : dir.resolve("model.safetensors.index.json");
            throw new CheckpointFormatException(where + ": missing tensor '" + name + "'");
        }
        if (!java.util.Arrays.equals(t.shape(), expectedShape)) {
            throw new CheckpointFormatException(t.file() + ": tensor '" + name + "' has shape " + java.util.Arrays.toString(t.shape())
                    + ", but config.json implies " + java.util.Arrays.toString(expectedShape));
        }
        if (!t.dtype().isFloating()) {
            throw new CheckpointFormatException(t.file() + ": tensor '" + name + "' is " + t.dtype() + ", expected F32, F16 or BF16");
        }
        return t;
    }

    public boolean has(String name) { return tensors.containsKey(name); }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
