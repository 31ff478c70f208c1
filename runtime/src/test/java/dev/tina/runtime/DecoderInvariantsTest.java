package dev.tina.runtime;

import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.init.RandomCheckpoint;
import dev.tina.export.merge.AdapterMerger;
import dev.tina.export.peft.LoraConfig;
import dev.tina.export.peft.PeftAdapter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Invariants of the exported decoder on the qwen2-small fixture (GQA, q/k/v biases, untied head). */
class DecoderInvariantsTest {
    static final Path FIXTURE = ParityFixtureTest.FIXTURE;
    @TempDir static Path tmp;
    static Path withLora, withoutLora;
    static ModelConfig config;
    static long[][] ids, mask, pos;

    @BeforeAll
    static void setUp() throws Exception {
        config = ModelConfig.read(FIXTURE.resolve("model/config.json"));
        withLora = tmp.resolve("lora");
        withoutLora = tmp.resolve("plain");
        DecoderExporter.export(FIXTURE.resolve("model"), withLora, DecoderExporter.Options.defaults());
        DecoderExporter.export(FIXTURE.resolve("model"), withoutLora, new DecoderExporter.Options(DType.F32, List.of(), false));
        try (SafetensorsFile cs = SafetensorsFile.open(FIXTURE.resolve("case.safetensors"))) {
            ids = ParityCheck.matrix(cs.tensor("input_ids"));
            mask = ParityCheck.matrix(cs.tensor("attention_mask"));
            pos = ParityCheck.matrix(cs.tensor("position_ids"));
        }
    }

    static float[] fullPass(OrtDecoder d, AdapterBinding a, long[][] ids, long[][] mask, long[][] pos) throws Exception {
        try (KvCache empty = KvCache.empty(d.environment(), d.descriptor(), ids.length);
             DecoderOutput o = d.forward(ids, mask, pos, empty, a)) {
            return toArray(o.logits());
        }
    }

    static float[] toArray(FloatBuffer b) {
        float[] out = new float[b.remaining()];
        b.get(out);
        return out;
    }

    /** Max |x - y| over the positions where the mask is 1. */
    static double maxErr(float[] x, float[] y, long[][] mask, int vocab) {
        int s = mask[0].length;
        double m = 0;
        for (int i = 0; i < mask.length; i++) {
            for (int t = 0; t < s; t++) {
                if (mask[i][t] == 0) continue;
                for (int k = 0; k < vocab; k++) {
                    int idx = (i * s + t) * vocab + k;
                    m = Math.max(m, Math.abs(x[idx] - y[idx]));
                }
            }
        }
        return m;
    }

    static long[][] cols(long[][] m, int from, int to) {
        long[][] out = new long[m.length][];
        for (int i = 0; i < m.length; i++) out[i] = Arrays.copyOfRange(m[i], from, to);
        return out;
    }

    @Test
    void incrementalDecodingWithKvCacheEqualsOneFullPass() throws Exception {
        int v = config.vocabSize(), s = ids[0].length, b = ids.length;
        try (OrtDecoder d = OrtDecoder.open(withLora);
             AdapterBinding lora = AdapterBinding.of(d.environment(), d.descriptor(), adapter())) {
            float[] full = fullPass(d, lora, ids, mask, pos);
            float[] stepwise = new float[full.length];
            // Prefill 5 positions (covers the left padding of every row), then chunks of 1, 2, 1, ...
            int[] cuts = {0, 5, 6, 8, 9, 12};
            DecoderOutput prev = null;
            KvCache empty = KvCache.empty(d.environment(), d.descriptor(), b);
            try {
                for (int c = 0; c + 1 < cuts.length; c++) {
                    int from = cuts[c], to = cuts[c + 1];
                    KvCache past = prev == null ? empty : prev.presentCache();
                    DecoderOutput o = d.forward(cols(ids, from, to), cols(mask, 0, to), cols(pos, from, to), past, lora);
                    float[] chunk = toArray(o.logits());
                    for (int i = 0; i < b; i++) {
                        System.arraycopy(chunk, i * (to - from) * v, stepwise, (i * s + from) * v, (to - from) * v);
                    }
                    if (prev != null) prev.close();
                    prev = o;
                }
            } finally {
                if (prev != null) prev.close();
                empty.close();
            }
            double err = maxErr(full, stepwise, mask, v);
            assertTrue(err < 1e-5, "incremental vs full max error " + err);
        }
    }

    @Test
    void adapterOffEqualsExportWithoutLoraInputs() throws Exception {
        try (OrtDecoder d = OrtDecoder.open(withLora);
             AdapterBinding none = AdapterBinding.none(d.environment(), d.descriptor());
             OrtDecoder plain = OrtDecoder.open(withoutLora);
             AdapterBinding plainNone = AdapterBinding.none(plain.environment(), plain.descriptor())) {
            double err = maxErr(fullPass(d, none, ids, mask, pos), fullPass(plain, plainNone, ids, mask, pos), mask, config.vocabSize());
            assertTrue(err < 1e-6, "adapter-off vs plain export " + err);
        }
    }

    @Test
    void adapterWithZeroBChangesNothing() throws Exception {
        PeftAdapter real = adapter();
        Map<String, float[]> t = new LinkedHashMap<>(real.tensors());
        t.replaceAll((name, v) -> name.contains("lora_B") ? new float[v.length] : v);
        PeftAdapter zeroB = new PeftAdapter(real.config(), t, null);
        try (OrtDecoder d = OrtDecoder.open(withLora);
             AdapterBinding none = AdapterBinding.none(d.environment(), d.descriptor());
             AdapterBinding z = AdapterBinding.of(d.environment(), d.descriptor(), zeroB);
             AdapterBinding full = AdapterBinding.of(d.environment(), d.descriptor(), real)) {
            float[] base = fullPass(d, none, ids, mask, pos);
            assertTrue(maxErr(base, fullPass(d, z, ids, mask, pos), mask, config.vocabSize()) < 1e-6);
            // and the real adapter does change the output (the check above can fail)
            assertTrue(maxErr(base, fullPass(d, full, ids, mask, pos), mask, config.vocabSize()) > 1e-3);
        }
    }

    @Test
    void adapterOnSubsetOfTargetsGetsZeroFactorsElsewhere() throws Exception {
        PeftAdapter real = adapter();
        List<Projection> sub = List.of(Projection.Q_PROJ, Projection.V_PROJ);
        Map<String, float[]> t = new LinkedHashMap<>();
        real.tensors().forEach((k, v) -> { if (k.contains(".q_proj.") || k.contains(".v_proj.")) t.put(k, v); });
        PeftAdapter qv = new PeftAdapter(LoraConfig.of(4, 8, 0, sub, false), t, null);
        Map<String, float[]> padded = new LinkedHashMap<>(real.tensors());
        padded.replaceAll((k, v) -> t.containsKey(k) ? v : new float[v.length]);
        PeftAdapter allWithZeros = new PeftAdapter(real.config(), padded, null);
        try (OrtDecoder d = OrtDecoder.open(withLora);
             AdapterBinding a = AdapterBinding.of(d.environment(), d.descriptor(), qv);
             AdapterBinding b = AdapterBinding.of(d.environment(), d.descriptor(), allWithZeros)) {
            assertTrue(maxErr(fullPass(d, a, ids, mask, pos), fullPass(d, b, ids, mask, pos), mask, config.vocabSize()) < 1e-6);
        }
    }

    @Test
    void mergedCheckpointEqualsBasePlusAdapter() throws Exception {
        Path merged = tmp.resolve("merged"), mergedExport = tmp.resolve("merged-export");
        AdapterMerger.merge(FIXTURE.resolve("model"), FIXTURE.resolve("adapter"), merged, false);
        DecoderExporter.export(merged, mergedExport, new DecoderExporter.Options(DType.F32, List.of(), false));
        try (SafetensorsFile cs = SafetensorsFile.open(FIXTURE.resolve("case.safetensors"));
             OrtDecoder m = OrtDecoder.open(mergedExport);
             AdapterBinding none = AdapterBinding.none(m.environment(), m.descriptor())) {
            float[] expected = cs.tensor("logits_lora").toFloatArray();
            double err = maxErr(fullPass(m, none, ids, mask, pos), expected, mask, config.vocabSize());
            assertTrue(err < 1e-4, "merged vs reference logits_lora " + err);
        }
        assertTrue(Files.isRegularFile(merged.resolve("config.json")));
    }

    @Test
    void bf16ShardedSourceExportsTheSameAtEveryStorageDtypeThatHoldsItExactly() throws Exception {
        Path cfg = FIXTURE.resolve("model/config.json");
        Path single = tmp.resolve("bf16-single"), sharded = tmp.resolve("bf16-sharded");
        RandomCheckpoint.write(cfg, single, DType.BF16, 1, 7, false);
        RandomCheckpoint.write(cfg, sharded, DType.BF16, 3, 7, false);
        assertTrue(Files.isRegularFile(sharded.resolve("model.safetensors.index.json")));
        float[] reference = null;
        for (var c : List.of(new Object[]{single, DType.F32}, new Object[]{sharded, DType.F32}, new Object[]{sharded, DType.BF16})) {
            Path out = tmp.resolve("bf16-export-" + ((Path) c[0]).getFileName() + "-" + c[1]);
            DecoderExporter.export((Path) c[0], out, new DecoderExporter.Options((DType) c[1], List.of(Projection.values()), false));
            try (OrtDecoder d = OrtDecoder.open(out);
                 AdapterBinding none = AdapterBinding.none(d.environment(), d.descriptor())) {
                float[] logits = fullPass(d, none, ids, mask, pos);
                if (reference == null) reference = logits;
                else assertEquals(0.0, maxErr(reference, logits, mask, config.vocabSize()), 1e-6, "export " + out);
            }
        }
        // An F16 source stored as fp16 or as fp32 holds the same values too.
        Path f16 = tmp.resolve("f16-single");
        RandomCheckpoint.write(cfg, f16, DType.F16, 1, 7, false);
        float[] f16Reference = null;
        for (DType storage : List.of(DType.F32, DType.F16)) {
            Path out = tmp.resolve("f16-export-" + storage);
            DecoderExporter.export(f16, out, new DecoderExporter.Options(storage, List.of(Projection.values()), false));
            try (OrtDecoder d = OrtDecoder.open(out);
                 AdapterBinding none = AdapterBinding.none(d.environment(), d.descriptor())) {
                float[] logits = fullPass(d, none, ids, mask, pos);
                if (f16Reference == null) f16Reference = logits;
                else assertEquals(0.0, maxErr(f16Reference, logits, mask, config.vocabSize()), 1e-6, "export " + out);
            }
        }
    }

    static PeftAdapter adapter() throws Exception {
        return PeftAdapter.read(FIXTURE.resolve("adapter"), config);
    }
}
