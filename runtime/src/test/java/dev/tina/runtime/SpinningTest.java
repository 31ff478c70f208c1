package dev.tina.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.tina.export.onnx.GraphBuilder;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The default spinning mode stops ONNX Runtime's worker threads when a run returns: the process
 * then uses (almost) no CPU between runs, where ONNX Runtime's own default keeps a worker
 * spinning for a while after every run.
 */
class SpinningTest {
    private static final int N = 384;

    @Test
    void parsesTheThreeModesAndRefusesOthers() {
        assertEquals(SessionSettings.Spinning.RUN, SessionSettings.Spinning.parse(null));
        assertEquals(SessionSettings.Spinning.RUN, SessionSettings.Spinning.parse("run"));
        assertEquals(SessionSettings.Spinning.TRUE, SessionSettings.Spinning.parse("TRUE"));
        assertEquals(SessionSettings.Spinning.FALSE, SessionSettings.Spinning.parse("false"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SessionSettings.Spinning.parse("yes"));
        assertTrue(e.getMessage().contains("tina.ort.spinning"), e.getMessage());
    }

    @Test
    void runModeLeavesNoThreadSpinningAfterARun() throws Exception {
        assumeTrue(Runtime.getRuntime().availableProcessors() >= 2, "one core: ONNX Runtime makes no worker threads");
        double spinning = idleCpuAfterRuns(SessionSettings.Spinning.TRUE);
        double run = idleCpuAfterRuns(SessionSettings.Spinning.RUN);
        // how long a worker spins depends on the CPU's pause instruction (2^20 of them): tens of ms on recent x86, a few on older ones
        assumeTrue(spinning >= 0.05, "ONNX Runtime's default spun only " + spinning + " s here: too short to tell the modes apart");
        assertTrue(run < spinning / 2, "CPU while idle after runs: run mode " + run + " s, ONNX Runtime's default " + spinning + " s");
    }

    /**
     * Process CPU seconds while sleeping 100 ms after each of six runs of a matrix product big
     * enough to use the worker threads (the process clock ticks in 10 ms here: the sum of six
     * pauses makes the difference clear).
     */
    private static double idleCpuAfterRuns(SessionSettings.Spinning mode) throws Exception {
        GraphBuilder g = new GraphBuilder("spin", null);
        g.input("a", GraphBuilder.FLOAT, N, N);
        g.input("b", GraphBuilder.FLOAT, N, N);
        g.opNamed("MatMul", "c", List.of("a", "b"));
        g.output("c", GraphBuilder.FLOAT, N, N);
        byte[] model = GraphBuilder.model(g.build()).build().toByteArray();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(2);
            mode.addTo(o);
            try (OrtSession s = env.createSession(model, o);
                 OnnxTensor a = OnnxTensor.createTensor(env, FloatBuffer.allocate(N * N), new long[] {N, N});
                 OnnxTensor b = OnnxTensor.createTensor(env, FloatBuffer.allocate(N * N), new long[] {N, N})) {
                long idle = 0;
                for (int i = 0; i < 6; i++) {
                    try (OrtSession.Result r = s.run(Map.of("a", a, "b", b))) {
                        assertEquals(1, r.size());
                    }
                    long before = os.getProcessCpuTime();
                    Thread.sleep(100);
                    idle += os.getProcessCpuTime() - before;
                }
                return idle / 1e9;
            }
        }
    }
}
