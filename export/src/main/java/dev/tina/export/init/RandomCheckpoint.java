package dev.tina.export.init;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.AtomicOutputDirectory;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.checkpoint.SafetensorsWriter;
import dev.tina.export.checkpoint.SafetensorsWriter.Planned;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code tina init-model --random}: a Hugging Face checkpoint with random weights of a given
 * config, for tests and for benchmarking real shapes without downloading anything. Weights are
 * uniform with standard deviation {@code initializer_range} (0.02 by default), norms are 1; each
 * tensor's stream is seeded from (seed, tensor name), so the output does not depend on sharding.
 * Tensors are generated chunk by chunk straight into the file: a 1.5B model never sits on the heap.
 */
public final class RandomCheckpoint {
    private static final int CHUNK = 1 << 20;

    private RandomCheckpoint() {}

    public static void write(Path configFile, Path outDir, DType dtype, int shards, long seed, boolean overwrite) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ModelConfig c = ModelConfig.read(configFile);
        ObjectNode raw = (ObjectNode) json.readTree(configFile.toFile());
        raw.put("torch_dtype", dtype.torchName());
        double std = raw.path("initializer_range").asDouble(0.02);
        try (AtomicOutputDirectory out = new AtomicOutputDirectory(outDir, overwrite)) {
            SafetensorsWriter.writeCheckpoint(out.path(), plan(c, dtype, std, seed), shards);
            Files.writeString(out.path().resolve("config.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(raw),
                    StandardCharsets.UTF_8);
            out.commit();
        }
    }

    /** The tensors of a checkpoint of config {@code c}, in Hugging Face names and layout. */
    public static List<Planned> plan(ModelConfig c, DType dtype, double std, long seed) {
        List<Planned> t = new ArrayList<>();
        long h = c.hiddenSize();
        t.add(random("model.embed_tokens.weight", dtype, new long[]{c.vocabSize(), h}, std, seed));
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".";
            t.add(ones(p + "input_layernorm.weight", dtype, h));
            t.add(ones(p + "post_attention_layernorm.weight", dtype, h));
            for (Projection proj : Projection.values()) {
                String m = proj.modulePath(i);
                t.add(random(m + ".weight", dtype, new long[]{proj.outFeatures(c), proj.inFeatures(c)}, std, seed));
                if (proj.hasBias(c)) t.add(random(m + ".bias", dtype, new long[]{proj.outFeatures(c)}, std, seed));
            }
        }
        t.add(ones("model.norm.weight", dtype, h));
        if (!c.tieWordEmbeddings()) t.add(random("lm_head.weight", dtype, new long[]{c.vocabSize(), h}, std, seed));
        t.sort((a, b) -> a.name().compareTo(b.name()));
        return t;
    }

    private static Planned ones(String name, DType dtype, long n) {
        return new Planned(name, dtype, new long[]{n}, out -> fill(out, dtype, n, () -> 1f));
    }

    private static Planned random(String name, DType dtype, long[] shape, double std, long seed) {
        long n = 1;
        for (long d : shape) n *= d;
        long count = n;
        float halfWidth = (float) (std * Math.sqrt(3)); // uniform(-a, a) has std a/sqrt(3)
        return new Planned(name, dtype, shape, out -> {
            SplittableRandom rng = new SplittableRandom(seed ^ name.hashCode() * 0x9E3779B97F4A7C15L);
            fill(out, dtype, count, () -> (float) (rng.nextDouble(-halfWidth, halfWidth)));
        });
    }

    private interface FloatSupplier { float get(); }

    private static void fill(java.nio.channels.WritableByteChannel out, DType dtype, long n, FloatSupplier f) throws IOException {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) { // freed per tensor, not at GC
            ByteBuffer buf = arena.allocate(Math.min(n, CHUNK) * dtype.byteSize()).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            for (long start = 0; start < n; start += CHUNK) {
                long end = Math.min(n, start + CHUNK);
                buf.clear();
                for (long i = start; i < end; i++) dtype.putFloat(buf, f.get());
                buf.flip();
                while (buf.hasRemaining()) out.write(buf);
            }
        }
    }
}
