package dev.tina.training.ort;

import ai.onnxruntime.OrtEnvironment;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Puts ONNX Runtime's training-enabled native library under Microsoft's Java API. Microsoft's
 * own native library is built without the training API; bytedeco's build of the same version has
 * it (and the {@code *Grad} contrib kernels the gradient graphs use). Before the first
 * {@link OrtEnvironment} is created, the two bytedeco libraries and Microsoft's JNI glue are
 * copied into one temporary folder named by the {@code onnxruntime.native.path} property, which
 * Microsoft's loader honours. Inference keeps working with this library too, so a process that
 * trains and samples uses one native runtime throughout.
 */
public final class TrainingNatives {
    private static final String BYTEDECO = "/org/bytedeco/onnxruntime/linux-x86_64/";
    private static final String MICROSOFT_JNI = "/ai/onnxruntime/native/linux-x64/libonnxruntime4j_jni.so";
    private static volatile boolean installed;

    private TrainingNatives() {}

    /**
     * Installs the training-enabled library if nothing has loaded ONNX Runtime yet; idempotent.
     * Returns false when the bytedeco native jar is not on the class path (inference-only install).
     */
    public static synchronized boolean install() {
        if (installed) return true;
        if (System.getProperty("onnxruntime.native.path") != null) return installed = true; // set by the user
        if (TrainingNatives.class.getResource(BYTEDECO + "libonnxruntime.so.1") == null) return false;
        if (!System.getProperty("os.name", "").toLowerCase().contains("linux") || !"amd64".equals(System.getProperty("os.arch"))) {
            return false;
        }
        try {
            Path dir = Files.createTempDirectory("tina-ort-training-");
            copy(BYTEDECO + "libonnxruntime.so.1", dir.resolve("libonnxruntime.so"));
            copy(BYTEDECO + "libonnxruntime_providers_shared.so", dir.resolve("libonnxruntime_providers_shared.so"));
            copy(MICROSOFT_JNI, dir.resolve("libonnxruntime4j_jni.so"));
            dir.toFile().deleteOnExit();
            for (String f : new String[]{"libonnxruntime.so", "libonnxruntime_providers_shared.so", "libonnxruntime4j_jni.so"}) {
                dir.resolve(f).toFile().deleteOnExit();
            }
            System.setProperty("onnxruntime.native.path", dir.toString());
            return installed = true;
        } catch (IOException e) {
            throw new IllegalStateException("cannot unpack ONNX Runtime's training native library: " + e.getMessage(), e);
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
