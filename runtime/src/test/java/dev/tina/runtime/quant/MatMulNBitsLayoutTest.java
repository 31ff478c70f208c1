package dev.tina.runtime.quant;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.export.quant.BlockQuantizer;
import dev.tina.export.quant.BlockQuantizer.Quantized;
import dev.tina.export.quant.BlockQuantizer.Scheme;
import dev.tina.export.quant.QuantizedLinear;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packing of {@link BlockQuantizer} is the one ONNX Runtime's MatMulNBits kernel reads: the
 * operator's output equals x · dequantize(W)ᵀ computed in Java (up to float summation order), and
 * dequantize(W) is within half a quantization step of W.
 */
class MatMulNBitsLayoutTest {
    @ParameterizedTest
    @CsvSource({"INT4, 32, 0", "INT4, 16, 0", "INT4, 128, 0", "INT8, 32, 0", "INT8, 64, 0", "INT4, 32, 4", "INT8, 32, 4"})
    void kernelReadsTheLayoutAsDequantized(Scheme scheme, int block, int accuracyLevel) throws Exception {
        int m = 5, n = 48, k = 256;
        Random r = new Random(scheme.ordinal() * 31 + block);
        float[] w = new float[n * k], x = new float[m * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05 + (i % k < k / 2 ? 0.01 : -0.02));
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        Quantized q = BlockQuantizer.quantize(w, n, k, scheme, block);
        float[] dq = q.dequantize();
        for (int row = 0; row < n; row++) {
            for (int blk = 0; blk < k / block; blk++) {
                float step = q.scales()[row * (k / block) + blk];
                for (int j = 0; j < block; j++) {
                    int i = row * k + blk * block + j;
                    assertTrue(Math.abs(dq[i] - w[i]) <= step * 0.5f + 1e-7f, () -> "value off by more than half a step at " + i);
                }
            }
        }

        GraphBuilder g = new GraphBuilder("nbits", null);
        g.input("x", GraphBuilder.FLOAT, m, k);
        String y = QuantizedLinear.matMul(g, "x", "w", q, accuracyLevel);
        g.opNamed("Identity", "y", List.of(y));
        g.output("y", GraphBuilder.FLOAT, m, n);
        byte[] model = GraphBuilder.model(g.build()).build().toByteArray();

        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession s = env.createSession(model, new OrtSession.SessionOptions());
             OnnxTensor xt = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[]{m, k});
             OrtSession.Result res = s.run(Map.of("x", xt))) {
            float[][] got = (float[][]) res.get(0).getValue();
            double maxRef = 0, maxErr = 0;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double ref = 0;
                    for (int t = 0; t < k; t++) ref += x[i * k + t] * dq[j * k + t];
                    maxRef = Math.max(maxRef, Math.abs(ref));
                    maxErr = Math.max(maxErr, Math.abs(ref - got[i][j]));
                }
            }
            // accuracy level 4 quantizes the activations to int8 per block: about 1/127 of each block's range
            double tol = accuracyLevel == 4 ? 2e-2 : 1e-5;
            assertTrue(maxErr <= tol * maxRef, "max |kernel − x·dq(W)ᵀ| " + maxErr + " vs max |y| " + maxRef);
            assertEquals(m, got.length);
        }
    }
}
