package dev.tina.runtime.quant;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.export.quant.ChannelQuantizer;
import org.junit.jupiter.api.Test;

import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The W8A8 projection: ONNX Runtime's integer product over {@link ChannelQuantizer}'s layout equals
 * the same integer arithmetic done in Java (codes of x per row, of W per output channel, exact int32
 * sums), and stays within the quantization error of the float product x · Wᵀ.
 */
class ChannelQuantizerTest {
    @Test
    void stackedProjectionsComputeWhatEachComputesApart() throws Exception {
        int m = 5, k = 64;
        int[] ns = {48, 16, 16}; // q, k, v of a small GQA layer
        Random r = new Random(11);
        float[] x = new float[m * k];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * (i / k == 1 ? 20 : 1));
        List<ChannelQuantizer.Quantized> parts = new java.util.ArrayList<>();
        GraphBuilder g = new GraphBuilder("stacked", null);
        g.input("x", GraphBuilder.FLOAT, "m", k);
        for (int j = 0; j < ns.length; j++) {
            float[] w = new float[ns[j] * k];
            for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05 * (j + 1));
            parts.add(ChannelQuantizer.quantize(w, ns[j], k));
            g.opNamed("Identity", "apart" + j, List.of(ChannelQuantizer.matMul(g, "x", "w" + j, parts.get(j))));
            g.output("apart" + j, GraphBuilder.FLOAT, "m", ns[j]);
        }
        ChannelQuantizer.Quantized stacked = ChannelQuantizer.stack(parts);
        assertEquals(80, stacked.n());
        ChannelQuantizer.addInitializers(g, "qkv", stacked);
        String[] ys = ChannelQuantizer.stackedNodes(g, "x", "qkv", ns);
        for (int j = 0; j < ns.length; j++) {
            g.opNamed("Identity", "stacked" + j, List.of(ys[j]));
            g.output("stacked" + j, GraphBuilder.FLOAT, "m", ns[j]);
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession s = env.createSession(GraphBuilder.model(g.build()).build().toByteArray(), new OrtSession.SessionOptions());
             OnnxTensor xt = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[]{m, k});
             OrtSession.Result res = s.run(Map.of("x", xt))) {
            for (int j = 0; j < ns.length; j++) {
                float[][] apart = (float[][]) res.get("apart" + j).orElseThrow().getValue();
                float[][] together = (float[][]) res.get("stacked" + j).orElseThrow().getValue();
                for (int i = 0; i < m; i++) assertArrayEquals(apart[i], together[i], "part " + j + ", row " + i); // bit for bit
            }
        }
    }

    @Test
    void kernelComputesTheIntegerProductOfTheLayout() throws Exception {
        int m = 7, n = 40, k = 96;
        Random r = new Random(3);
        float[] w = new float[n * k], x = new float[m * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * (i / k == 2 ? 30 : 1)); // row 2 far larger: its own scale
        for (int j = 0; j < k; j++) x[4 * k + j] = 0; // an all-zero row
        ChannelQuantizer.Quantized q = ChannelQuantizer.quantize(w, n, k);
        float[] dq = q.dequantize();
        for (int row = 0; row < n; row++) {
            for (int j = 0; j < k; j++) {
                int i = row * k + j;
                assertTrue(Math.abs(dq[i] - w[i]) <= q.scales()[row] * 0.5f + 1e-7f, "weight off by more than half a step at " + i);
            }
        }

        GraphBuilder g = new GraphBuilder("w8a8", null);
        g.input("x", GraphBuilder.FLOAT, "m", k);
        String y = ChannelQuantizer.matMul(g, "x", "w", q);
        g.opNamed("Identity", "y", List.of(y));
        g.output("y", GraphBuilder.FLOAT, "m", n);
        byte[] model = GraphBuilder.model(g.build()).build().toByteArray();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        float[][] got;
        try (OrtSession s = env.createSession(model, new OrtSession.SessionOptions())) {
            try (OnnxTensor xt = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[]{m, k});
                 OrtSession.Result res = s.run(Map.of("x", xt))) {
                got = (float[][]) res.get(0).getValue();
            }
            // exact integer sums and per-row scales: a row's result does not depend on the rows beside it
            for (int i = 0; i < m; i++) {
                try (OnnxTensor xt = OnnxTensor.createTensor(env, FloatBuffer.wrap(x, i * k, k), new long[]{1, k});
                     OrtSession.Result res = s.run(Map.of("x", xt))) {
                    assertArrayEquals(got[i], ((float[][]) res.get(0).getValue())[0], "row " + i + " alone vs in the batch");
                }
            }
        }
        for (int i = 0; i < m; i++) {
            float amax = 0;
            for (int t = 0; t < k; t++) amax = Math.max(amax, Math.abs(x[i * k + t]));
            float rs = Math.max(amax, Float.MIN_NORMAL) / 127f;
            int[] codes = new int[k];
            for (int t = 0; t < k; t++) codes[t] = (int) Math.rint(x[i * k + t] / rs); // ONNX Round: half to even
            double rowMax = 0, floatErr = 0;
            for (int j = 0; j < n; j++) {
                long acc = 0;
                double exact = 0;
                for (int t = 0; t < k; t++) {
                    acc += (long) codes[t] * q.b()[t * n + j];
                    exact += (double) x[i * k + t] * w[j * k + t];
                }
                float want = (float) acc * rs * q.scales()[j];
                assertEquals(want, got[i][j], 1e-6 * Math.abs(want) + 1e-30, "row " + i + ", column " + j);
                rowMax = Math.max(rowMax, Math.abs(exact));
                floatErr = Math.max(floatErr, Math.abs(exact - got[i][j]));
            }
            // each product term is off by at most half a step of x's and of W's codes
            assertTrue(floatErr <= 0.03 * rowMax + 1e-12, "row " + i + ": max |y − x·Wᵀ| " + floatErr + " vs max |x·Wᵀ| " + rowMax);
        }
    }
}
