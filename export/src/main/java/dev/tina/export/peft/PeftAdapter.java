package dev.tina.export.peft;

import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.checkpoint.TensorView;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import dev.tina.export.checkpoint.SafetensorsWriter;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A PEFT LoRA adapter on the heap ({@code adapter_config.json} + {@code adapter_model.safetensors}),
 * checked against the model it is applied to: every targeted projection of every layer has
 * {@code lora_A.weight} [r, in] and {@code lora_B.weight} [out, r], and nothing else is present.
 * Adapters are small (tens of MB at 1.5B, r=32), so they are held as float arrays.
 */
public record PeftAdapter(LoraConfig config, Map<String, float[]> tensors, Path source) {

    public static final String PREFIX = "base_model.model.";

    /** PEFT's tensor name for one factor: {@code base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight}. */
    public static String tensorName(int layer, Projection p, char factor) {
        return PREFIX + p.modulePath(layer) + ".lora_" + factor + ".weight";
    }

    public static PeftAdapter read(Path dir, ModelConfig model) throws IOException {
        LoraConfig cfg = LoraConfig.read(dir.resolve("adapter_config.json"));
        Path file = dir.resolve("adapter_model.safetensors");
        if (!Files.isRegularFile(file)) {
            if (Files.exists(dir.resolve("adapter_model.bin"))) {
                throw new CheckpointFormatException(dir + ": only adapter_model.bin found; save the adapter with safe_serialization=True");
            }
            throw new CheckpointFormatException(file + ": not found");
        }
        Map<String, float[]> out = new LinkedHashMap<>();
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            Set<String> expected = new HashSet<>();
            for (int layer = 0; layer < model.numHiddenLayers(); layer++) {
                for (Projection p : cfg.targets()) {
                    for (char f : new char[]{'A', 'B'}) {
                        String name = tensorName(layer, p, f);
                        expected.add(name);
                        TensorView t = st.tensors().get(name);
                        if (t == null) {
                            throw new CheckpointFormatException(file + ": missing tensor '" + name + "' (adapter_config.json targets "
                                    + p.moduleName() + " and the model has " + model.numHiddenLayers() + " layers)");
                        }
                        long[] want = f == 'A' ? new long[]{cfg.r(), p.inFeatures(model)} : new long[]{p.outFeatures(model), cfg.r()};
                        if (!Arrays.equals(t.shape(), want)) {
                            throw new CheckpointFormatException(file + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                                    + ", expected " + Arrays.toString(want) + " (r=" + cfg.r() + " from adapter_config.json, "
                                    + p.moduleName() + " " + p.inFeatures(model) + "→" + p.outFeatures(model) + " in the model)");
                        }
                        out.put(name, t.toFloatArray());
                    }
                }
            }
            for (String name : st.tensors().keySet()) {
                if (!expected.contains(name)) {
                    throw new CheckpointFormatException(file + ": unexpected tensor '" + name + "' (not a lora_A/lora_B of the targets "
                            + cfg.targets().stream().map(Projection::moduleName).toList() + " within the model's "
                            + model.numHiddenLayers() + " layers)");
                }
            }
        }
        return new PeftAdapter(cfg, out, dir);
    }

    /** Writes the adapter in PEFT layout (adapter_config.json + adapter_model.safetensors) into {@code dir}. */
    public void write(Path dir, ModelConfig model) throws IOException {
        Files.createDirectories(dir);
        List<SafetensorsWriter.Planned> planned = new ArrayList<>();
        for (int layer = 0; layer < model.numHiddenLayers(); layer++) {
            for (Projection p : config.targets()) {
                for (char f : new char[]{'A', 'B'}) {
                    String name = tensorName(layer, p, f);
                    float[] v = tensors.get(name);
                    long[] shape = f == 'A' ? new long[]{config.r(), p.inFeatures(model)} : new long[]{p.outFeatures(model), config.r()};
                    if (v == null || v.length != shape[0] * shape[1]) {
                        throw new IllegalStateException("adapter tensor '" + name + "' is missing or not of shape " + Arrays.toString(shape));
                    }
                    planned.add(SafetensorsWriter.Planned.f32(name, shape, v));
                }
            }
        }
        SafetensorsWriter.write(dir.resolve("adapter_model.safetensors"), Map.of("format", "pt"), planned);
        config.write(dir.resolve("adapter_config.json"));
    }

    public float[] a(int layer, Projection p) { return tensors.get(tensorName(layer, p, 'A')); }

    public float[] b(int layer, Projection p) { return tensors.get(tensorName(layer, p, 'B')); }
}
