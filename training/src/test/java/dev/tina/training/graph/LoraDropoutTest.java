package dev.tina.training.graph;

import dev.tina.testsupport.Shared;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.export.onnx.proto.Onnx.ModelProto;
import dev.tina.export.onnx.proto.Onnx.OperatorSetIdProto;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.training.ort.GradientEngine;
import dev.tina.training.ort.GradientSession;
import dev.tina.training.ort.TrainingNatives;
import dev.tina.training.parity.ReferenceCase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoraDropoutTest {
    static final OrtEnvironment ENV = TrainingNatives.requireTraining();
    static final Path FIXTURE = Shared.path("fixtures/qwen2-small");

    static float[] mask(OrtSession s, long seed, int rows, int cols) throws Exception {
        return mask(s, seed, rows, cols, "y");
    }

    static float[] mask(OrtSession s, long seed, int rows, int cols, String output) throws Exception {
        float[] ones = new float[rows * cols];
        java.util.Arrays.fill(ones, 1f);
        try (OnnxTensor x = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(ones), new long[]{rows, cols});
             OnnxTensor sd = OnnxTensor.createTensor(ENV, LongBuffer.wrap(new long[]{seed}), new long[]{1});
             OrtSession.Result r = s.run(Map.of("x", x, DecoderGraph.DROPOUT_SEED, sd))) {
            FloatBuffer b = ((OnnxTensor) r.get(output).orElseThrow()).getFloatBuffer();
            float[] a = new float[b.remaining()];
            b.get(a);
            return a;
        }
    }

    @Test
    void masksHaveTheRateAndLookIndependentAndAreAFunctionOfTheSeed() throws Exception {
        GraphBuilder g = new GraphBuilder("t", null);
        g.input("x", GraphBuilder.FLOAT, "n", "d");
        g.input(DecoderGraph.DROPOUT_SEED, GraphBuilder.INT64, 1);
        g.opNamed("Identity", "y", List.of(DecoderGraph.loraDropout(g, "x", 3, 0.3)));
        g.output("y", GraphBuilder.FLOAT, "n", "d");
        // a second module in the same graph: it shares the rows' numbers, not their masks
        g.opNamed("Identity", "y2", List.of(DecoderGraph.loraDropout(g, "x", 4, 0.3)));
        g.output("y2", GraphBuilder.FLOAT, "n", "d");
        byte[] model = ModelProto.newBuilder().setIrVersion(8).addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17))
                .setGraph(g.build()).build().toByteArray();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions(); OrtSession s = ENV.createSession(model, o)) {
            float[] a = mask(s, 1, 200, 50), again = mask(s, 1, 200, 50), b = mask(s, 2, 200, 50);
            int kept = 0, bothNeighbours = 0, differ = 0;
            for (int i = 0; i < a.length; i++) {
                assertTrue(a[i] == 0f || a[i] == 1f, "kept values are x itself (1/keep goes into the branch's scale)");
                if (a[i] != 0) kept++;
                if (i > 0 && a[i] != 0 && a[i - 1] != 0) bothNeighbours++;
                if ((a[i] != 0) != (b[i] != 0)) differ++;
                assertEquals(a[i], again[i], 0f);
            }
            int n = a.length;
            assertEquals(0.7, (double) kept / n, 0.02, "keep rate");
            assertEquals(0.49, (double) bothNeighbours / (n - 1), 0.03, "neighbours independent");
            assertEquals(0.42, (double) differ / n, 0.03, "another seed, another mask");
            // rows and features: the mask is built from per-row and per-feature numbers, so check that
            // no pair of features (over the rows) and no pair of rows (over the features) moves together:
            // the mean |P(both kept) − keep²| over all pairs stays near that of independent Bernoullis
            assertPairsIndependent(a, 200, 50, 0.7);
            assertPairsIndependent(mask(s, 9, 50, 200), 50, 200, 0.7);
            float[] other = mask(s, 1, 200, 50, "y2");
            int both = 0, moduleDiffer = 0;
            for (int i = 0; i < n; i++) {
                if (a[i] != 0 && other[i] != 0) both++;
                if ((a[i] != 0) != (other[i] != 0)) moduleDiffer++;
            }
            assertEquals(0.49, (double) both / n, 0.03, "another module, an independent mask");
            // consecutive seeds (micro-batches of one step) must not give shifted copies of one mask
            for (int shift = -1; shift <= 1; shift++) {
                int same = 0, count = 0;
                for (int r = 1; r < 199; r++) {
                    for (int c = 1; c < 49; c++, count++) if ((a[(r + shift) * 50 + c + shift] != 0) == (b[r * 50 + c] != 0)) same++;
                }
                assertEquals(0.58, (double) same / count, 0.03, "seed 2's mask against seed 1's shifted by " + shift);
            }
            assertEquals(0.42, (double) moduleDiffer / n, 0.03, "another module, another mask");
        }
    }

    /** Mean over column pairs (rows as samples) and over row pairs (columns as samples) of |both kept − keep²|. */
    static void assertPairsIndependent(float[] m, int rows, int cols, double keep) {
        double p2 = keep * keep;
        for (boolean byColumn : new boolean[]{true, false}) {
            int units = byColumn ? cols : rows, samples = byColumn ? rows : cols;
            double sum = 0;
            int pairs = 0;
            for (int u = 0; u < units; u++) {
                for (int v = u + 1; v < units; v++, pairs++) {
                    int both = 0;
                    for (int k = 0; k < samples; k++) {
                        float x = byColumn ? m[k * cols + u] : m[u * cols + k], y = byColumn ? m[k * cols + v] : m[v * cols + k];
                        if (x != 0 && y != 0) both++;
                    }
                    sum += Math.abs((double) both / samples - p2);
                }
            }
            // E|mean of n Bernoulli(p²) − p²| ≈ √(2/π)·σ for independent pairs
            double expected = Math.sqrt(2 / Math.PI) * Math.sqrt(p2 * (1 - p2) / samples);
            assertEquals(expected, sum / pairs, 0.25 * expected, (byColumn ? "feature" : "row") + " pairs independent");
        }
    }

    @Test
    void gradientsWithDropoutMatchFiniteDifferencesForAFixedSeed(@TempDir Path tmp) throws Exception {
        Path export = tmp.resolve("export");
        DecoderExporter.export(FIXTURE.resolve("model"), export, DecoderExporter.Options.defaults());
        PeftAdapter adapter = PeftAdapter.read(FIXTURE.resolve("adapter"), ModelConfig.read(FIXTURE.resolve("model/config.json")));
        int r = adapter.config().r();
        var graph = TrainingGraph.gradientGraph(export, r, adapter.config().targets(), new LossHead.Grpo(), 0.2, "dropout.onnx");
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, float[]> w = new LinkedHashMap<>();
        for (String p : graph.params()) {
            float[] v = adapter.tensors().get(p).clone();
            shapes.put(p, p.endsWith("lora_A.weight") ? new long[]{r, v.length / r} : new long[]{v.length / r, r});
            w.put(p, v);
        }
        ReferenceCase rc;
        try (SafetensorsFile cs = SafetensorsFile.open(FIXTURE.resolve("case.safetensors"))) {
            rc = ReferenceCase.read(cs, FIXTURE.resolve("case.json"));
        }
        try (GradientSession s = new GradientSession(graph, shapes)) {
            java.util.function.LongFunction<GrpoMicroBatch> batch = seed -> rc.batch(adapter.config().scale()).withDropoutSeed(seed);
            GradientEngine.Result a = s.run(batch.apply(5), w), again = s.run(batch.apply(5), w), other = s.run(batch.apply(6), w);
            assertEquals(a.loss(), again.loss(), 0.0);
            assertNotEquals(a.loss(), other.loss());
            String p = graph.params().get(4);
            float[] g = a.gradients().get(p);
            int best = 0;
            for (int i = 0; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[best])) best = i;
            float orig = w.get(p)[best];
            double h = 1e-2 * Math.max(0.1, Math.abs(orig));
            w.get(p)[best] = (float) (orig + h);
            double up = s.run(batch.apply(5), w).loss();
            w.get(p)[best] = (float) (orig - h);
            double down = s.run(batch.apply(5), w).loss();
            w.get(p)[best] = orig;
            assertEquals((up - down) / (2 * h), g[best], 2e-2 * Math.abs(g[best]) + 1e-5, p);
        }
    }
}
