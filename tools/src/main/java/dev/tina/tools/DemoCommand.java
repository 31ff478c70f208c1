package dev.tina.tools;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.init.RandomCheckpoint;
import dev.tina.export.merge.AdapterMerger;
import dev.tina.export.peft.LoraConfig;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.DecoderOutput;
import dev.tina.runtime.GreedyDecoder;
import dev.tina.runtime.KvCache;
import dev.tina.runtime.OrtDecoder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.InputStream;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * The pipeline so far, end to end on a model the tool makes itself: a random-weight tiny Qwen2,
 * a random LoRA adapter, export, live adapter swap, KV-cache decoding, merge. It proves the
 * plumbing, not reasoning: the weights are random, so the generated ids are noise. (The trained
 * embedded model and the GRPO demo replace this once they exist.)
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "End-to-end check of export, LoRA swap, KV-cache decoding and merge on a tiny random Qwen2 made on the spot.")
final class DemoCommand implements Callable<Integer> {
    static final String CONFIG_RESOURCE = "/onnx-models/configs/qwen2-demo-tiny.json";

    @Option(names = "--out", defaultValue = "out/demo", description = "work and report folder; default ${DEFAULT-VALUE}")
    Path out;

    @Option(names = "--seed", defaultValue = "42", description = "seed for weights and adapter; default ${DEFAULT-VALUE}")
    long seed;

    @Option(names = "--new-tokens", defaultValue = "64", description = "greedy tokens to generate; default ${DEFAULT-VALUE}")
    int newTokens;

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        Files.createDirectories(out);
        Path config = out.resolve("config.json");
        try (InputStream in = DemoCommand.class.getResourceAsStream(CONFIG_RESOURCE)) {
            Files.copy(in, config, StandardCopyOption.REPLACE_EXISTING);
        }
        ModelConfig c = ModelConfig.read(config);
        Path base = out.resolve("base"), adapterDir = out.resolve("adapter"), export = out.resolve("export");
        Path merged = out.resolve("merged"), mergedExport = out.resolve("merged-export");
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("note", "random weights: this checks the pipeline, it is not a trained model");

        step("1/5 random tiny Qwen2 (" + c.parameterCount() + " parameters)");
        RandomCheckpoint.write(config, base, DType.F32, 1, seed, true);
        step("2/5 random LoRA adapter, r=8 on all seven projections");
        randomAdapter(c, 8, 16, seed).write(adapterDir, c);
        PeftAdapter adapter = PeftAdapter.read(adapterDir, c);
        step("3/5 export to ONNX with LoRA inputs");
        DecoderExporter.export(base, export, new DecoderExporter.Options(DType.F32, List.of(Projection.values()), true));

        long[] prompt = {1, 17, 42, 99, 7};
        try (OrtDecoder d = OrtDecoder.open(export);
             AdapterBinding none = AdapterBinding.none(d.environment(), d.descriptor());
             AdapterBinding lora = AdapterBinding.of(d.environment(), d.descriptor(), adapter)) {
            step("4/5 greedy decoding with the KV cache, base and adapter, same session");
            long g0 = System.nanoTime();
            long[] baseIds = GreedyDecoder.generate(d, none, prompt, newTokens, Set.of());
            double baseSec = (System.nanoTime() - g0) / 1e9;
            long[] loraIds = GreedyDecoder.generate(d, lora, prompt, newTokens, Set.of());
            System.out.println("   base    : " + Arrays.toString(Arrays.copyOf(baseIds, 16)) + " ...");
            System.out.println("   adapter : " + Arrays.toString(Arrays.copyOf(loraIds, 16)) + " ...");
            System.out.printf("   %.0f tokens/s greedy at batch 1 (CPU)%n", baseIds.length / baseSec);
            report.put("greedy_tokens_per_second", baseIds.length / baseSec);
            report.put("adapter_changes_output", !Arrays.equals(baseIds, loraIds));

            step("5/5 merge the adapter into the weights and compare with the live adapter");
            AdapterMerger.merge(base, adapterDir, merged, true);
            DecoderExporter.export(merged, mergedExport, new DecoderExporter.Options(DType.F32, List.of(), true));
            try (OrtDecoder m = OrtDecoder.open(mergedExport);
                 AdapterBinding mNone = AdapterBinding.none(m.environment(), m.descriptor())) {
                double err = maxDiff(lastLogits(d, lora, prompt), lastLogits(m, mNone, prompt));
                System.out.printf("   merged vs live adapter: max |Δlogit| = %.2e%n", err);
                report.put("merged_vs_adapter_max_abs_logit_diff", err);
            }
        }
        double wall = (System.nanoTime() - t0) / 1e9;
        report.put("wall_seconds", wall);
        Path tmp = out.resolve("report.json.tmp");
        Files.writeString(tmp, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(report));
        Files.move(tmp, out.resolve("report.json"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        System.out.printf("done in %.1f s; report: %s%n", wall, out.resolve("report.json"));
        return 0;
    }

    private static void step(String s) { System.out.println("[demo] " + s); }

    static PeftAdapter randomAdapter(ModelConfig c, int r, double alpha, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, float[]> t = new LinkedHashMap<>();
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            for (Projection p : Projection.values()) {
                float[] a = new float[r * p.inFeatures(c)], b = new float[p.outFeatures(c) * r];
                for (int k = 0; k < a.length; k++) a[k] = (float) rng.nextDouble(-0.1, 0.1);
                for (int k = 0; k < b.length; k++) b[k] = (float) rng.nextDouble(-0.1, 0.1);
                t.put(PeftAdapter.tensorName(i, p, 'A'), a);
                t.put(PeftAdapter.tensorName(i, p, 'B'), b);
            }
        }
        return new PeftAdapter(LoraConfig.of(r, alpha, 0.0, List.of(Projection.values()), false), t, null);
    }

    private static float[] lastLogits(OrtDecoder d, AdapterBinding a, long[] prompt) throws Exception {
        long[] mask = new long[prompt.length], pos = new long[prompt.length];
        Arrays.fill(mask, 1);
        for (int i = 0; i < pos.length; i++) pos[i] = i;
        try (KvCache empty = KvCache.empty(d.environment(), d.descriptor(), 1);
             DecoderOutput o = d.forward(new long[][]{prompt}, new long[][]{mask}, new long[][]{pos}, empty, a)) {
            FloatBuffer l = o.logits();
            float[] out = new float[l.remaining()];
            l.get(out);
            return out;
        }
    }

    private static double maxDiff(float[] x, float[] y) {
        double m = 0;
        for (int i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
        return m;
    }
}
