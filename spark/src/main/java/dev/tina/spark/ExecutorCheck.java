package dev.tina.spark;

import ai.onnxruntime.OrtEnvironment;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.ToolVersion;
import dev.tina.export.onnx.proto.Onnx;
import dev.tina.training.ort.TrainingNatives;

import java.security.CodeSource;
import java.util.ArrayList;
import java.util.List;

/**
 * What an executor JVM checks once, at start-up (through {@link TinaSparkPlugin}) or before its first
 * task: the same tina build as the driver, ONNX Runtime's training build installed before any ONNX
 * Runtime class initialises, and the libraries a cluster's own jars could shadow (protobuf, Jackson)
 * working. A problem is kept and every task on this executor fails with it in one line, instead
 * of a {@code NoClassDefFoundError} deep inside a step.
 */
final class ExecutorCheck {
    /** The driver's build, set by {@link SparkCluster#open}: "VERSION (build TIME)". */
    static final String DRIVER_BUILD = "spark.tina.driverBuild";
    private static volatile String problem;
    private static volatile boolean done;

    private ExecutorCheck() {}

    /** Runs the checks once per JVM; {@code driverBuild} may be null (not told). */
    static synchronized void run(String driverBuild) {
        if (done) return;
        done = true;
        List<String> problems = new ArrayList<>();
        if (driverBuild != null && !driverBuild.equals(ToolVersion.full())) {
            problems.add("runs tina " + ToolVersion.full() + " (" + source(ToolVersion.class) + ") but the driver runs tina " + driverBuild
                    + ": deploy the same application jar on both (a tina jar in the cluster's own jars folder comes first)");
        }
        try {
            TrainingNatives.install();
            if (!OrtEnvironment.getEnvironment().isTrainingEnabled()) {
                problems.add("the loaded ONNX Runtime native library (" + System.getProperty("onnxruntime.native.path", "Microsoft's, from "
                        + source(OrtEnvironment.class)) + ") has no training API: ONNX Runtime was loaded before tina could install "
                        + "bytedeco's training build (org.bytedeco:onnxruntime:1.24.1-1.5.13:linux-x86_64), or that jar is missing");
            }
        } catch (Throwable t) { // UnsatisfiedLinkError, a missing class: all reported the same way
            problems.add("cannot load ONNX Runtime's training build" + (System.getProperty("onnxruntime.native.path") == null ? ""
                    : " from onnxruntime.native.path=" + System.getProperty("onnxruntime.native.path")) + ": " + describe(t));
        }
        try {
            Onnx.ModelProto.newBuilder().setIrVersion(9).build().toByteArray();
        } catch (Throwable t) {
            problems.add("protobuf does not work with tina's generated code (" + describe(t) + "; protobuf from " + source(com.google.protobuf.Message.class)
                    + "): submit the application jar (tina-spark-app.jar, protobuf relocated), not the separate jars");
        }
        try {
            new ObjectMapper().readTree("{\"a\": [1]}");
        } catch (Throwable t) {
            problems.add("Jackson does not work (" + describe(t) + "; databind from " + source(ObjectMapper.class) + ", core from "
                    + source(com.fasterxml.jackson.core.JsonFactory.class) + "): submit the application jar (Jackson relocated)");
        }
        if (!problems.isEmpty()) {
            problem = String.join("; ", problems);
            System.err.println("tina: " + ExecutorWorkers.where() + ": " + problem);
        }
    }

    /**
     * Before each task: fails when the task's driver runs another build than this executor, or with
     * the executor's start-up problem, if it has one (the checks run first when the plugin did not).
     */
    static void require(String driverBuild) {
        if (!driverBuild.equals(ToolVersion.full())) {
            throw new IllegalStateException(ExecutorWorkers.where() + " runs tina " + ToolVersion.full() + " but the driver runs tina "
                    + driverBuild + ": deploy the same build on both");
        }
        run(driverBuild);
        String p = problem;
        if (p != null) throw new IllegalStateException(ExecutorWorkers.where() + ": " + p);
    }

    /** The error and its innermost cause (an ExceptionInInitializerError alone names nothing). */
    static String describe(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        return root == t ? t.toString() : t.getClass().getSimpleName() + " caused by " + root;
    }

    private static String source(Class<?> c) {
        try {
            CodeSource s = c.getProtectionDomain().getCodeSource();
            return s == null || s.getLocation() == null ? "the JDK" : s.getLocation().getPath();
        } catch (Throwable t) {
            return "?";
        }
    }
}
