package dev.tina.export.merge;

import dev.tina.export.AtomicOutputDirectory;
import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.HfCheckpoint;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.checkpoint.SafetensorsWriter;
import dev.tina.export.checkpoint.SafetensorsWriter.Planned;
import dev.tina.export.checkpoint.TensorView;
import dev.tina.export.peft.PeftAdapter;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code tina merge}: folds a LoRA adapter into the base weights, W' = W + scale · B A, computed in
 * float32 row by row and stored in each tensor's own dtype, and writes a Hugging Face checkpoint
 * with the source's shard layout. Untouched tensors are copied byte for byte.
 */
public final class AdapterMerger {
    private AdapterMerger() {}

    public static void merge(Path hfDir, Path adapterDir, Path outDir, boolean overwrite) throws IOException {
        ModelConfig config = ModelConfig.read(hfDir.resolve("config.json"));
        PeftAdapter adapter = PeftAdapter.read(adapterDir, config);
        Map<String, Projection> targetOf = new HashMap<>();
        Map<String, Integer> layerOf = new HashMap<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            for (Projection p : adapter.config().targets()) {
                targetOf.put(p.modulePath(i) + ".weight", p);
                layerOf.put(p.modulePath(i) + ".weight", i);
            }
        }
        try (HfCheckpoint ckpt = HfCheckpoint.open(hfDir);
             AtomicOutputDirectory out = new AtomicOutputDirectory(outDir, overwrite)) {
            for (String name : targetOf.keySet()) {
                Projection p = targetOf.get(name);
                ckpt.tensor(name, p.outFeatures(config), p.inFeatures(config)); // validates presence and shape
            }
            List<Path> files = HfCheckpoint.weightFiles(hfDir);
            float scale = (float) adapter.config().scale();
            int r = adapter.config().r();
            for (Path f : files) {
                List<Planned> planned = new ArrayList<>();
                try (SafetensorsFile src = SafetensorsFile.open(f)) {
                    for (TensorView t : src.tensors().values()) {
                        Projection p = targetOf.get(t.name());
                        if (p == null) {
                            planned.add(new Planned(t.name(), t.dtype(), t.shape(), ch -> t.writeAs(t.dtype(), ch)));
                        } else {
                            int layer = layerOf.get(t.name());
                            float[] a = adapter.a(layer, p), b = adapter.b(layer, p);
                            planned.add(new Planned(t.name(), t.dtype(), t.shape(), ch -> writeMerged(t, a, b, r, scale, ch)));
                        }
                    }
                    SafetensorsWriter.write(out.path().resolve(f.getFileName().toString()), src.metadata(), planned);
                }
            }
            for (String side : DecoderExporter.SIDE_FILES) {
                Path s = hfDir.resolve(side);
                if (Files.isRegularFile(s)) Files.copy(s, out.path().resolve(side), StandardCopyOption.COPY_ATTRIBUTES);
            }
            Path index = hfDir.resolve("model.safetensors.index.json");
            if (Files.isRegularFile(index)) Files.copy(index, out.path().resolve(index.getFileName()));
            out.commit();
        }
    }

    /** Row o of W': W[o, :] + scale · Σ_k B[o, k] · A[k, :], converted to the tensor's dtype. */
    private static void writeMerged(TensorView w, float[] a, float[] b, int r, float scale,
                                    java.nio.channels.WritableByteChannel ch) throws IOException {
        int rows = (int) w.shape()[0], cols = (int) w.shape()[1];
        DType dt = w.dtype();
        ByteBuffer buf = ByteBuffer.allocate(cols * dt.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        float[] row = new float[cols];
        for (int o = 0; o < rows; o++) {
            long base = (long) o * cols;
            for (int j = 0; j < cols; j++) row[j] = w.getFloat(base + j);
            for (int k = 0; k < r; k++) {
                float coef = scale * b[o * r + k];
                int off = k * cols;
                for (int j = 0; j < cols; j++) row[j] += coef * a[off + j];
            }
            buf.clear();
            for (int j = 0; j < cols; j++) dt.putFloat(buf, row[j]);
            buf.flip();
            while (buf.hasRemaining()) ch.write(buf);
        }
    }
}
