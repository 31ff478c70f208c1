package dev.tina.runtime;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtEpDevice;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import dev.tina.runtime.gpu.GpuProbe;
import dev.tina.runtime.gpu.GpuUnavailableException;
import dev.tina.runtime.gpu.NativeLibraries;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/** How to build an ONNX Runtime session: device (execution provider) and threading. */
public record SessionSettings(Device device, int intraOpThreads, SharedWeights sharedWeights) {

    public SessionSettings(Device device, int intraOpThreads) { this(device, intraOpThreads, null); }

    /**
     * When ONNX Runtime's intra-op worker threads spin waiting for work ({@code -Dtina.ort.spinning=run|true|false}).
     * ONNX Runtime's own default ({@code true}) lets an idle worker spin for about 2^20 pause
     * instructions (tens of milliseconds) after every run, so the Java work between runs (sampling
     * over the vocabulary, the optimizer, the grader, the server) shares its cores with spinning
     * threads; and a process holds several sessions, each with its own pool.
     */
    public enum Spinning {
        /** Spin inside a run, stop as soon as the run returns ({@code session.force_spinning_stop}): the default. */
        RUN,
        /** ONNX Runtime's default: keep spinning after the run too. */
        TRUE,
        /** Never spin: idle workers block at once, also between the operators of one run. */
        FALSE;

        public static Spinning parse(String s) {
            if (s == null || s.isBlank()) return RUN;
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "run" -> RUN;
                case "true" -> TRUE;
                case "false" -> FALSE;
                default -> throw new IllegalArgumentException("-Dtina.ort.spinning=" + s + ": expected run, true or false");
            };
        }

        /** Adds this mode's configuration entries to {@code o}. */
        public void addTo(OrtSession.SessionOptions o) throws OrtException {
            switch (this) {
                case RUN -> o.addConfigEntry("session.force_spinning_stop", "1");
                case FALSE -> o.addConfigEntry("session.intra_op.allow_spinning", "0");
                case TRUE -> { }
            }
        }
    }

    /** Sessions profiled so far (their profile files' numbers). */
    private static final AtomicInteger PROFILED = new AtomicInteger();

    /** The process's spinning mode ({@code -Dtina.ort.spinning}, default {@link Spinning#RUN}). */
    public static final Spinning SPINNING = Spinning.parse(System.getProperty("tina.ort.spinning"));

    /**
     * {@code -Dtina.ort.profile=DIR}: ONNX Runtime's per-node timings for the session opened with
     * {@code o}, one JSON per session in DIR, written when the session closes. ONNX Runtime appends
     * only the time to the second to the prefix, so each session gets its own number or two opened
     * together would share a file.
     */
    public static void profileIfAsked(OrtSession.SessionOptions o) throws OrtException {
        String profile = System.getProperty("tina.ort.profile");
        if (profile != null) o.enableProfiling(Path.of(profile, "session-" + PROFILED.incrementAndGet()).toString());
    }

    /** These settings, with the base weights shared from {@code weights} (see {@link SharedWeights}). */
    public SessionSettings withSharedWeights(SharedWeights weights) { return new SessionSettings(device, intraOpThreads, weights); }

    /**
     * Where the work runs. CPU is always there. CUDA: ONNX Runtime's CUDA execution provider for
     * every session (sampling, scoring, training). TENSORRT: sampling on a TensorRT engine
     * ({@code dev.tina.runtime.gpu}), the ONNX Runtime sessions (training, scoring) on CUDA. The
     * GPU devices are chosen at run time and need the GPU natives (build with {@code -Pgpu}).
     */
    public enum Device {
        CPU, CUDA, TENSORRT;

        public static Device parse(String s) {
            if (s == null) throw new IllegalArgumentException("device is required: cpu, cuda or tensorrt");
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "cpu" -> CPU;
                case "cuda", "gpu" -> CUDA;
                case "tensorrt", "trt" -> TENSORRT;
                default -> throw new IllegalArgumentException("unknown device '" + s + "', expected cpu, cuda or tensorrt");
            };
        }

        /** The execution provider the ONNX Runtime sessions of this device use. */
        public Device ortDevice() { return this == TENSORRT ? CUDA : this; }

        /** The command-line spelling. */
        public String cli() { return name().toLowerCase(Locale.ROOT); }
    }

    public SessionSettings {
        if (device == null) throw new IllegalArgumentException("device is required");
        if (intraOpThreads < 0) throw new IllegalArgumentException("intraOpThreads must be >= 0 (0 = ONNX Runtime's default)");
    }

    public static SessionSettings cpu() {
        return new SessionSettings(Device.CPU, Runtime.getRuntime().availableProcessors());
    }

    public static SessionSettings of(Device device) {
        return new SessionSettings(device, Runtime.getRuntime().availableProcessors());
    }

    public OrtSession.SessionOptions toOptions() throws OrtException {
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        try {
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            if (intraOpThreads > 0) o.setIntraOpNumThreads(intraOpThreads);
            SPINNING.addTo(o);
            profileIfAsked(o);
            if (sharedWeights != null) sharedWeights.addTo(o);
            if (device == Device.CUDA) addCuda(o, "--device cuda");
            return o;
        } catch (OrtException | RuntimeException e) {
            o.close();
            throw e;
        }
    }

    /**
     * Appends the CUDA execution provider (device 0), after checking everything it needs so that a
     * missing piece is a one-line {@link GpuUnavailableException} naming it: a GPU and its driver,
     * ONNX Runtime natives built with CUDA (the {@code -Pgpu} build), and the CUDA 13 / cuDNN 9
     * libraries the provider loads.
     */
    public static void addCuda(OrtSession.SessionOptions o, String path) throws OrtException {
        EnumSet<OrtProvider> providers = OrtEnvironment.getAvailableProviders();
        String problem = cudaProblem(providers.contains(OrtProvider.CUDA));
        if (problem != null) throw new GpuUnavailableException(path + " cannot start: " + problem);
        try {
            o.addCUDA(0);
        } catch (OrtException e) {
            if (!String.valueOf(e.getMessage()).contains("not compiled with CUDA support")) {
                // e.g. "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file"
                throw NativeLibraries.explain(path, e);
            }
            addCudaAsLibrary(o, path);
        }
    }

    private static boolean cudaLibraryRegistered;

    /**
     * Microsoft's Java glue ({@code libonnxruntime4j_jni.so} of the CPU jar) is built without CUDA, so its
     * {@code addCUDA} always refuses. The CUDA provider library (bytedeco's, beside {@code libonnxruntime.so}
     * on {@code onnxruntime.native.path}) also registers as an execution-provider library (ONNX Runtime 1.23+):
     * it then lists the GPUs it can use as devices, and the session takes the first.
     */
    static synchronized void addCudaAsLibrary(OrtSession.SessionOptions o, String path) throws OrtException {
        String nativePath = System.getProperty("onnxruntime.native.path");
        if (nativePath == null) throw new GpuUnavailableException(path + " cannot start: onnxruntime.native.path is not set, so the CUDA provider library cannot be found");
        Path lib = Path.of(nativePath, "libonnxruntime_providers_cuda.so");
        if (!Files.isRegularFile(lib)) throw new GpuUnavailableException(path + " cannot start: no " + lib);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        if (!cudaLibraryRegistered) {
            try {
                env.registerExecutionProviderLibrary("CUDA", lib.toString());
            } catch (OrtException e) {
                throw NativeLibraries.explain(path, e);
            }
            cudaLibraryRegistered = true;
        }
        List<OrtEpDevice> devices = env.getEpDevices();
        List<OrtEpDevice> cuda = devices.stream().filter(d -> "CUDAExecutionProvider".equals(d.getEpName())).toList();
        if (cuda.isEmpty()) {
            throw new GpuUnavailableException(path + " cannot start: ONNX Runtime's CUDA provider found no GPU it can use (devices: "
                    + devices.stream().map(d -> d.getEpName() + " on " + d.getDevice().getType()).toList() + "); run with --device cpu");
        }
        o.addExecutionProvider(List.of(cuda.getFirst()), Map.of());
    }

    /** Why the CUDA provider cannot start here, or null; pure checks first, so the message names the first missing piece. */
    static String cudaProblem(boolean providerInBuild) {
        if (!providerInBuild) {
            return "the loaded ONNX Runtime native library has no CUDA execution provider (available: "
                    + OrtEnvironment.getAvailableProviders() + "); the default build is CPU-only: build with mvn -Pgpu "
                    + "(or TINA_GPU=1 ./tina …) to add org.bytedeco:onnxruntime:1.24.1-1.5.13:linux-x86_64-gpu, or run with --device cpu";
        }
        if (GpuProbe.gpu().isEmpty()) return GpuProbe.whyNot() + "; run with --device cpu";
        var missing = NativeLibraries.missing(NativeLibraries.CUDA_EP);
        if (!missing.isEmpty()) return NativeLibraries.describeMissing("", missing).replaceFirst("^ cannot start: ", "");
        return null;
    }
}
