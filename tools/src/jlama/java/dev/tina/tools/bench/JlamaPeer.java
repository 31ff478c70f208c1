package dev.tina.tools.bench;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;

import java.nio.file.Path;
import java.util.Optional;
import java.util.UUID;

/**
 * Benchmark-only peer: Jlama (com.github.tjake:jlama-core) decoding the same Hugging Face folder, single stream.
 * Built only with {@code mvn -Pjlama}; {@code tina bench generate --peer jlama} loads it by reflection.
 * Needs {@code --add-modules jdk.incubator.vector} on the java command line.
 */
public final class JlamaPeer {
    private JlamaPeer() {}

    private static volatile String lastDescription = "";
    private static volatile double lastDecodeOnly = Double.NaN;

    /** What the last {@link #tokensPerSecond} call ran: version, dtypes, threads, load time. */
    public static String lastDescription() { return lastDescription; }

    /** Decode-only tokens/s of the best run of the last {@link #tokensPerSecond} call: tokens after the first over the time after prefill. */
    public static double lastDecodeOnlyTokensPerSecond() { return lastDecodeOnly; }

    /**
     * Greedy (temperature 0) generation of {@code newTokens} tokens after the prompt, {@code repeats} times after one warm-up.
     * Returns the best end-to-end tokens/s, counted as {@code tina bench generate} counts its own rows: all new tokens over
     * prefill + decode time (model loading excluded); {@link #lastDecodeOnlyTokensPerSecond()} gives decode alone.
     * The end-of-sequence id does not stop it. Jlama's defaults: F32 working memory, I8 working quantization
     * (Jlama switches to BF16 when the weights are BF16), its own thread count (half the cores, at least 2).
     */
    public static double tokensPerSecond(Path hfModelDir, long[] promptIds, int newTokens, int repeats) {
        if (promptIds.length == 0) throw new IllegalArgumentException("empty prompt");
        int[] prompt = new int[promptIds.length];
        for (int i = 0; i < prompt.length; i++) prompt[i] = Math.toIntExact(promptIds[i]);
        long t0 = System.nanoTime();
        AbstractModel model = ModelSupport.loadModel(hfModelDir.toFile(), DType.F32, DType.I8);
        try {
            int context = model.getConfig().contextLength;
            if (prompt.length + newTokens > context) {
                throw new IllegalArgumentException("prompt + new tokens (" + (prompt.length + newTokens) + ") exceed the context length " + context);
            }
            double loadSeconds = (System.nanoTime() - t0) / 1e9;
            decode(model, prompt, Math.min(16, newTokens)); // warm-up
            double[] best = {0, 0};
            for (int r = 0; r < Math.max(1, repeats); r++) {
                double[] run = decode(model, prompt, newTokens);
                if (run[0] > best[0]) best = run;
            }
            lastDecodeOnly = best[1];
            lastDescription = String.format("Jlama %s, %s weights, %s working memory, %d threads, loaded in %.1f s, best of %d after a warm-up",
                    version(), model.getWeights().getModelDType(), model.getWorkingDType(),
                    com.github.tjake.jlama.util.PhysicalCoreExecutor.instance.get().getCoreCount(), loadSeconds, Math.max(1, repeats));
            return best[0];
        } finally {
            model.close();
        }
    }

    /** One greedy run; returns {end-to-end tokens/s, decode-only tokens/s (the tokens after the first, which prefill yields)}. */
    private static double[] decode(AbstractModel model, int[] prompt, int newTokens) {
        KvBufferCache cache = new KvBufferCache(model);
        try (KvBufferCache.KvBuffer kv = cache.getKvBuffer(UUID.randomUUID());
             AbstractTensor logits = model.makeDenseTensor(model.getConfig().vocabularySize)) {
            long t0 = System.nanoTime();
            AbstractTensor last = model.batchForward(prompt, 0, kv);
            int next = model.sample(last.slice(last.shape().first() - 1), 0.0f, 0.0f, logits);
            last.close();
            long start = System.nanoTime();
            int generated = 0;
            for (int pos = prompt.length; generated < newTokens - 1; pos++) {
                AbstractTensor out = model.forward(next, pos, kv, Optional.empty());
                next = model.sample(out, 0.0f, 0.0f, logits);
                out.close();
                generated++;
            }
            long end = System.nanoTime();
            return new double[] {(generated + 1) / ((end - t0) / 1e9), generated == 0 ? Double.NaN : generated / ((end - start) / 1e9)};
        } finally {
            cache.close();
        }
    }

    private static String version() {
        try (var in = AbstractModel.class.getResourceAsStream("/META-INF/maven/com.github.tjake/jlama-core/pom.properties")) {
            if (in == null) return "(version unknown)";
            var p = new java.util.Properties();
            p.load(in);
            return p.getProperty("version", "(version unknown)");
        } catch (java.io.IOException e) {
            return "(version unknown)";
        }
    }
}
