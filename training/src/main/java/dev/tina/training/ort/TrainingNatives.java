package dev.tina.training.ort;

import ai.onnxruntime.OrtEnvironment;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Puts ONNX Runtime's training-enabled native library under Microsoft's Java API. Microsoft's
 * own native library is built without the training API; bytedeco's build of the same version has
 * it (and the {@code *Grad} contrib kernels the gradient graphs use). Before the first
 * {@link OrtEnvironment} is created, the two bytedeco libraries and Microsoft's JNI glue are
 * copied into one temporary folder named by the {@code onnxruntime.native.path} property, which
 * Microsoft's loader honours. Inference keeps working with this library too, so a process that
 * trains and samples uses one native runtime throughout.
 *
 * <p>In a {@code -Pgpu} build bytedeco's CUDA build of the same version is on the class path too
 * and is preferred (system property {@code tina.ort.natives=auto|cpu|gpu}): it has the training
 * API and the CUDA execution provider, whose library is copied beside it.
 */
public final class TrainingNatives {
    private static final String BYTEDECO = "/org/bytedeco/onnxruntime/linux-x86_64/";
    private static final String BYTEDECO_GPU = "/org/bytedeco/onnxruntime/linux-x86_64-gpu/";
    private static final String MICROSOFT_JNI = "/ai/onnxruntime/native/linux-x64/libonnxruntime4j_jni.so";
    /** System property choosing the natives: auto (default: GPU build when on the class path), cpu or gpu. */
    public static final String PROPERTY = "tina.ort.natives";
    private static volatile boolean installed;
    private static volatile Variant variant = Variant.NONE;

    /** Which native build is (to be) loaded. */
    public enum Variant {
        /** bytedeco's CPU build (training API; default dependency). */
        CPU,
        /** bytedeco's CUDA build (training API + CUDA execution provider; {@code mvn -Pgpu}). */
        GPU,
        /** neither: Microsoft's own library (inference only), or natives chosen by the user. */
        NONE
    }

    private TrainingNatives() {}

    /** The natives installed by {@link #install()}. */
    public static Variant variant() { return variant; }

    /**
     * Which build to load: {@code preference} (auto, cpu, gpu) against which bytedeco jars are on
     * the class path. The GPU build is preferred when present: it serves CPU sessions too, and it
     * is only on the class path of a {@code -Pgpu} build.
     */
    public static Variant choose(String preference, boolean cpuJar, boolean gpuJar) {
        String p = preference == null ? "auto" : preference.trim().toLowerCase(java.util.Locale.ROOT);
        return switch (p) {
            case "auto", "" -> gpuJar ? Variant.GPU : cpuJar ? Variant.CPU : Variant.NONE;
            case "cpu" -> {
                if (!cpuJar) throw new IllegalArgumentException(PROPERTY + "=cpu but org.bytedeco:onnxruntime:1.24.1-1.5.13:linux-x86_64 is not on the class path");
                yield Variant.CPU;
            }
            case "gpu" -> {
                if (!gpuJar) {
                    throw new IllegalArgumentException(PROPERTY + "=gpu but org.bytedeco:onnxruntime:1.24.1-1.5.13:linux-x86_64-gpu is not on the class path; "
                            + "build with mvn -Pgpu (or TINA_GPU=1 ./tina …)");
                }
                yield Variant.GPU;
            }
            default -> throw new IllegalArgumentException(PROPERTY + "='" + preference + "': expected auto, cpu or gpu");
        };
    }

    /**
     * Installs the training-enabled library if nothing has loaded ONNX Runtime yet; idempotent.
     * Returns false when no bytedeco native jar is on the class path (inference-only install).
     */
    public static synchronized boolean install() {
        if (installed) return true;
        if (System.getProperty("onnxruntime.native.path") != null) return installed = true; // set by the user
        if (!System.getProperty("os.name", "").toLowerCase().contains("linux") || !"amd64".equals(System.getProperty("os.arch"))) {
            return false;
        }
        Variant v = choose(System.getProperty(PROPERTY), TrainingNatives.class.getResource(BYTEDECO + "libonnxruntime.so.1") != null,
                TrainingNatives.class.getResource(BYTEDECO_GPU + "libonnxruntime.so.1") != null);
        if (v == Variant.NONE) return false;
        String from = v == Variant.GPU ? BYTEDECO_GPU : BYTEDECO;
        try {
            Path dir = Files.createTempDirectory("tina-ort-training-");
            List<String> files = new ArrayList<>(List.of("libonnxruntime.so", "libonnxruntime_providers_shared.so", "libonnxruntime4j_jni.so"));
            copy(from + "libonnxruntime.so.1", dir.resolve("libonnxruntime.so"));
            copy(from + "libonnxruntime_providers_shared.so", dir.resolve("libonnxruntime_providers_shared.so"));
            copy(MICROSOFT_JNI, dir.resolve("libonnxruntime4j_jni.so"));
            if (v == Variant.GPU) {
                // Microsoft's loader looks for the CUDA provider in onnxruntime.native.path when addCUDA is called;
                // it is only dlopen'ed then, so this library loads on machines without CUDA too.
                copy(from + "libonnxruntime_providers_cuda.so", dir.resolve("libonnxruntime_providers_cuda.so"));
                files.add("libonnxruntime_providers_cuda.so");
            }
            dir.toFile().deleteOnExit();
            for (String f : files) dir.resolve(f).toFile().deleteOnExit();
            System.setProperty("onnxruntime.native.path", dir.toString());
            variant = v;
            return installed = true;
        } catch (IOException e) {
            throw new IllegalStateException("cannot unpack ONNX Runtime's training native library (" + v + " build): " + e.getMessage(), e);
        }
    }

    private static void copy(String resource, Path to) throws IOException {
        try (InputStream in = TrainingNatives.class.getResourceAsStream(resource)) {
            if (in == null) throw new IOException("resource " + resource + " missing from the class path");
            Files.copy(in, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Fails with a clear message unless the loaded ONNX Runtime can train. */
    public static OrtEnvironment requireTraining() {
        install();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        if (!env.isTrainingEnabled()) {
            throw new IllegalStateException("the loaded ONNX Runtime native library has no training API: "
                    + "org.bytedeco:onnxruntime:1.24.1-1.5.13:linux-x86_64 must be on the class path and ONNX Runtime "
                    + "must not have been loaded before TrainingNatives.install()");
        }
        return env;
    }
}
