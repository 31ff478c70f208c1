package dev.tina.runtime.gpu;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which NVIDIA shared libraries the GPU paths need, whether the dynamic loader can find them, and
 * what to tell the user when it cannot. Probing uses {@code dlopen} through the FFM API
 * ({@link SymbolLookup#libraryLookup}): a missing library is an exception here, not a crash later
 * inside a JNI loader.
 */
public final class NativeLibraries {
    private NativeLibraries() {}

    /** A library a GPU path needs: its soname and the package that ships it. */
    public record Requirement(String soname, String what, String howToGet) {}

    private static final String CUDA_HOW = "the CUDA 13 runtime (CUDA toolkit 13.x, or pip install nvidia-cuda-runtime-cu13 nvidia-cublas-cu13 "
            + "and put their lib folders on LD_LIBRARY_PATH; tools/gpu-check.sh does this for a pip-installed PyTorch)";
    private static final String CUDNN_HOW = "cuDNN 9 for CUDA 13 (apt install libcudnn9-cuda-13, or pip install nvidia-cudnn-cu13 and add its lib folder to LD_LIBRARY_PATH)";
    private static final String TRT_HOW = "TensorRT 10.x for CUDA 13 (apt install libnvinfer10 libnvonnxparsers10, pip install tensorrt-cu13-libs, "
            + "or the org.bytedeco:tensorrt:10.15-1.5.13:linux-x86_64-redist jar on the class path)";

    /** The NVIDIA driver: without it there is no GPU to talk to. */
    public static final Requirement DRIVER = new Requirement("libcuda.so.1", "the NVIDIA driver (CUDA driver API)",
            "an NVIDIA GPU with its driver installed (nvidia-smi should list it)");

    /** What ONNX Runtime's CUDA execution provider (bytedeco's 1.24.1 GPU build) loads. */
    public static final List<Requirement> CUDA_EP = List.of(
            DRIVER,
            new Requirement("libcudart.so.13", "CUDA runtime 13", CUDA_HOW),
            new Requirement("libcublas.so.13", "cuBLAS 13", CUDA_HOW),
            new Requirement("libcublasLt.so.13", "cuBLASLt 13", CUDA_HOW),
            new Requirement("libcufft.so.12", "cuFFT 12 (CUDA 13)", CUDA_HOW),
            new Requirement("libcurand.so.10", "cuRAND 10 (CUDA 13)", CUDA_HOW),
            new Requirement("libcudnn.so.9", "cuDNN 9", CUDNN_HOW));

    /** What the TensorRT path loads (bytedeco's tensorrt 10.15 presets). */
    public static final List<Requirement> TENSORRT = List.of(
            DRIVER,
            new Requirement("libcudart.so.13", "CUDA runtime 13", CUDA_HOW),
            new Requirement("libnvinfer.so.10", "TensorRT 10 (libnvinfer)", TRT_HOW),
            new Requirement("libnvonnxparser.so.10", "TensorRT's ONNX parser (libnvonnxparser)", TRT_HOW));

    /** Soname → null when it loads, else the loader's reason. */
    public static Map<String, String> probe(List<Requirement> libs) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Requirement r : libs) out.put(r.soname(), tryLoad(r.soname()));
        return out;
    }

    /** null when {@code soname} can be loaded by the dynamic loader, else why not. */
    public static String tryLoad(String soname) {
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup.libraryLookup(soname, arena);
            return null;
        } catch (IllegalArgumentException | IllegalCallerException e) {
            return String.valueOf(e.getMessage());
        }
    }

    /** The requirements whose library does not load, in order. */
    public static List<Requirement> missing(List<Requirement> libs) {
        List<Requirement> out = new ArrayList<>();
        Map<String, String> probed = probe(libs);
        for (Requirement r : libs) if (probed.get(r.soname()) != null) out.add(r);
        return out;
    }

    /** Throws a {@link GpuUnavailableException} naming each missing library unless all load. */
    public static void require(String path, List<Requirement> libs) {
        List<Requirement> miss = missing(libs);
        if (!miss.isEmpty()) throw new GpuUnavailableException(describeMissing(path, miss));
    }

    /** "--device cuda cannot start: missing libcudnn.so.9 (cuDNN 9): install …; …". */
    public static String describeMissing(String path, List<Requirement> miss) {
        StringBuilder b = new StringBuilder(path).append(" cannot start: ");
        if (miss.contains(DRIVER)) {
            b.append("no NVIDIA driver (libcuda.so.1 not found): this machine has no usable NVIDIA GPU; run with --device cpu");
            return b.toString();
        }
        b.append("missing ");
        for (int i = 0; i < miss.size(); i++) {
            Requirement r = miss.get(i);
            if (i > 0) b.append("; ");
            b.append(r.soname()).append(" (").append(r.what()).append("): install ").append(r.howToGet());
        }
        return b.append(" (LD_LIBRARY_PATH=").append(System.getenv().getOrDefault("LD_LIBRARY_PATH", "")).append(')').toString();
    }

    private static final Pattern SONAME = Pattern.compile("(lib[A-Za-z0-9_+\\-]+\\.so(?:\\.\\d+)*)");

    /**
     * The first library named in a loader error ("libcublasLt.so.13: cannot open shared object file",
     * "no jninvinfer in java.library.path"), or null.
     */
    public static String libraryNamedIn(String message) {
        if (message == null) return null;
        // ONNX Runtime: "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open …"
        Matcher cannotOpen = Pattern.compile(SONAME.pattern() + ": cannot open shared object file").matcher(message);
        if (cannotOpen.find()) return cannotOpen.group(1);
        Matcher m = SONAME.matcher(message);
        if (m.find()) return m.group(1);
        Matcher jni = Pattern.compile("no (jni[A-Za-z0-9_]+) in java\\.library\\.path").matcher(message);
        if (jni.find()) return "lib" + jni.group(1) + ".so";
        return null;
    }

    /**
     * Turns an error thrown while loading GPU natives (UnsatisfiedLinkError, NoClassDefFoundError,
     * ExceptionInInitializerError, an ONNX Runtime "Failed to load library" error) into a message
     * that names the missing library and how to get it.
     */
    public static GpuUnavailableException explain(String path, Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        String msg = root.getMessage() != null ? root.getMessage() : t.toString();
        String lib = libraryNamedIn(msg);
        if (lib == null) lib = libraryNamedIn(t.getMessage());
        String advice;
        if (lib == null) {
            advice = "a GPU library failed to load: " + msg;
        } else if (lib.startsWith("libjni")) {
            advice = "this build has no JavaCPP JNI glue (" + lib + "): build with mvn -Pgpu (or TINA_GPU=1 ./tina ...)";
        } else {
            Requirement known = null;
            for (List<Requirement> list : List.of(CUDA_EP, TENSORRT)) {
                for (Requirement r : list) if (lib.startsWith(r.soname().replaceAll("\\.so.*", ".so"))) known = r;
            }
            advice = "missing " + lib + (known == null ? "" : " (" + known.what() + "): install " + known.howToGet())
                    + " (loader: " + msg + ")";
        }
        return new GpuUnavailableException(path + " cannot start: " + advice, t);
    }
}
