package dev.tina.runtime.gpu;

import dev.tina.export.DecoderExporter;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.onnx.DecoderGraph;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.tensorrt.global.nvinfer;
import org.bytedeco.tensorrt.global.nvonnxparser;
import org.bytedeco.tensorrt.nvinfer.Dims64;
import org.bytedeco.tensorrt.nvinfer.IBuilder;
import org.bytedeco.tensorrt.nvinfer.IBuilderConfig;
import org.bytedeco.tensorrt.nvinfer.ICudaEngine;
import org.bytedeco.tensorrt.nvinfer.IExecutionContext;
import org.bytedeco.tensorrt.nvinfer.IHostMemory;
import org.bytedeco.tensorrt.nvinfer.ILogger;
import org.bytedeco.tensorrt.nvinfer.INetworkDefinition;
import org.bytedeco.tensorrt.nvinfer.IOptimizationProfile;
import org.bytedeco.tensorrt.nvinfer.IRuntime;
import org.bytedeco.tensorrt.nvinfer.ITensor;
import org.bytedeco.tensorrt.nvonnxparser.IParser;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A TensorRT engine for an exported decoder: built once from the ONNX file by TensorRT's ONNX
 * parser (external data read from the export folder) with the {@link TensorRtProfiles}, cached on
 * disk ({@link EngineCache}), deserialized, with one execution context per profile (prefill,
 * decode). Owns the logger, runtime, engine and contexts; {@link #close()} frees them in reverse.
 *
 * <p>The sampling variant drops the {@code logits} output ([batch, seq, vocab]: at prefill that
 * would be gigabytes) and keeps {@code last_logits}; the parity variant keeps both.
 */
public final class TensorRtEngine implements AutoCloseable {
    static final String PATH = "--device tensorrt";

    /** Which outputs the engine computes. */
    public enum Variant { SAMPLING, FULL_LOGITS }

    private final Logger logger;
    private final IRuntime runtime;
    private final ICudaEngine engine;
    private final List<IExecutionContext> contexts;
    private final ModelDescriptor descriptor;
    private final TensorRtSettings settings;
    private final Variant variant;
    private final Path file;
    private boolean closed;

    private TensorRtEngine(Logger logger, IRuntime runtime, ICudaEngine engine, List<IExecutionContext> contexts,
                           ModelDescriptor descriptor, TensorRtSettings settings, Variant variant, Path file) {
        this.logger = logger;
        this.runtime = runtime;
        this.engine = engine;
        this.contexts = contexts;
        this.descriptor = descriptor;
        this.settings = settings;
        this.variant = variant;
        this.file = file;
    }

    private static volatile boolean nativesLoaded;

    /**
     * Loads TensorRT's and CUDA's JNI glue and the NVIDIA libraries behind them, turning every
     * linkage failure into a {@link GpuUnavailableException} that names the missing library.
     * The libraries are probed with dlopen first, so the message is precise even where JavaCPP's
     * own error would only say that its JNI library failed.
     */
    public static synchronized void loadNatives() {
        if (nativesLoaded) return;
        GpuProbe.require(PATH);
        NativeLibraries.require(PATH, NativeLibraries.TENSORRT);
        try {
            Loader.load(org.bytedeco.cuda.global.cudart.class);
            Loader.load(nvinfer.class);
            Loader.load(nvonnxparser.class);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
            throw NativeLibraries.explain(PATH, e);
        }
        nativesLoaded = true;
    }

    /** "10.15.1" from {@code getInferLibVersion()} (major·10000 + minor·100 + patch in TensorRT 10). */
    public static String version() {
        loadNatives();
        int v = nvinfer.getInferLibVersion();
        return (v / 10000) + "." + (v / 100 % 100) + "." + (v % 100);
    }

    /** Opens the engine for {@code exportDir}, from the cache or built now (minutes for a 1.5B model). */
    public static TensorRtEngine open(Path exportDir, TensorRtSettings s, Variant variant, EngineCache cache, Consumer<String> log)
            throws IOException {
        loadNatives();
        ModelDescriptor d = ModelDescriptor.read(exportDir);
        GpuProbe.Gpu gpu = GpuProbe.require(PATH);
        List<TensorRtProfiles.Profile> profiles = TensorRtProfiles.compute(d, s);
        String[] model = EngineCache.modelIdentity(exportDir);
        EngineCache.Key key = new EngineCache.Key(model[0], model[1], gpu.name(), gpu.computeCapability(), version(),
                s.precision().cli(), TensorRtProfiles.describe(profiles), variant.name());
        Logger logger = new Logger();
        Path file = cache.find(key).orElse(null);
        if (file == null) {
            log.accept("building a TensorRT engine for " + exportDir + " on " + gpu + " (" + s.precision().cli() + ", TensorRT " + key.tensorRtVersion()
                    + "); cached as " + cache.engineFile(key));
            long t0 = System.nanoTime();
            // the full-logits engine parses the export's full-logits graph (written with model.onnx, so the key's hash of model.onnx covers it)
            Path onnx = exportDir.resolve(variant == Variant.FULL_LOGITS ? DecoderExporter.FULL_LOGITS_FILE : d.onnxFile());
            file = build(onnx, profiles, s, variant, cache, key, logger);
            log.accept(String.format("engine built in %.1f s", (System.nanoTime() - t0) / 1e9));
        }
        IRuntime runtime = nvinfer.createInferRuntime(logger);
        if (runtime == null || runtime.isNull()) throw new IllegalStateException("createInferRuntime failed: " + logger.errors());
        ICudaEngine engine;
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment bytes = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            engine = runtime.deserializeCudaEngine(Cuda.at(bytes.address()), bytes.byteSize());
        }
        if (engine == null || engine.isNull()) {
            runtime.deallocate();
            throw new IllegalStateException(file + ": TensorRT could not deserialize the engine (" + logger.errors()
                    + "); delete the file to rebuild it");
        }
        List<IExecutionContext> contexts = new ArrayList<>();
        for (int i = 0; i < profiles.size(); i++) {
            IExecutionContext c = engine.createExecutionContext();
            if (c == null || c.isNull()) {
                contexts.forEach(IExecutionContext::deallocate);
                engine.deallocate();
                runtime.deallocate();
                throw new IllegalStateException("createExecutionContext failed for profile " + profiles.get(i).name() + ": " + logger.errors());
            }
            contexts.add(c);
        }
        return new TensorRtEngine(logger, runtime, engine, contexts, d, s, variant, file);
    }

    private static Path build(Path onnx, List<TensorRtProfiles.Profile> profiles, TensorRtSettings s, Variant variant,
                              EngineCache cache, EngineCache.Key key, Logger logger) throws IOException {
        IBuilder builder = nvinfer.createInferBuilder(logger);
        if (builder == null || builder.isNull()) throw new IllegalStateException("createInferBuilder failed: " + logger.errors());
        INetworkDefinition network = null;
        IParser parser = null;
        IBuilderConfig config = null;
        IHostMemory serialized = null;
        try {
            // weakly typed (flags 0): the builder may pick FP16/BF16 kernels when the config allows them
            network = builder.createNetworkV2(0);
            parser = nvonnxparser.createParser(network, logger);
            if (!parser.parseFromFile(onnx.toString(), ILogger.Severity.kWARNING.value)) {
                StringBuilder b = new StringBuilder(onnx + ": TensorRT's ONNX parser failed:");
                for (int i = 0; i < parser.getNbErrors(); i++) {
                    var e = parser.getError(i);
                    b.append(" [node ").append(e.node()).append(' ').append(e.nodeName()).append(" (").append(e.nodeOperator()).append(")] ")
                            .append(e.desc()).append(';');
                }
                throw new IllegalStateException(b.toString());
            }
            if (variant == Variant.SAMPLING) {
                for (int i = network.getNbOutputs() - 1; i >= 0; i--) {
                    ITensor t = network.getOutput(i);
                    if (DecoderGraph.LOGITS.equals(t.getName())) network.unmarkOutput(t);
                }
            }
            config = builder.createBuilderConfig();
            switch (s.precision()) {
                case FP16 -> config.setFlag(nvinfer.BuilderFlag.kFP16);
                case BF16 -> config.setFlag(nvinfer.BuilderFlag.kBF16);
                case FP32 -> config.clearFlag(nvinfer.BuilderFlag.kTF32); // parity: true float32 products
            }
            for (TensorRtProfiles.Profile p : profiles) {
                IOptimizationProfile op = builder.createOptimizationProfile();
                for (Map.Entry<String, TensorRtProfiles.Range> e : p.inputs().entrySet()) {
                    TensorRtProfiles.Range r = e.getValue();
                    boolean ok = op.setDimensions(e.getKey(), nvinfer.OptProfileSelector.kMIN, dims(r.min()))
                            && op.setDimensions(e.getKey(), nvinfer.OptProfileSelector.kOPT, dims(r.opt()))
                            && op.setDimensions(e.getKey(), nvinfer.OptProfileSelector.kMAX, dims(r.max()));
                    if (!ok) throw new IllegalStateException("profile " + p.name() + ": TensorRT refused " + e.getKey() + " " + r + ": " + logger.errors());
                }
                if (config.addOptimizationProfile(op) < 0) throw new IllegalStateException("profile " + p.name() + " is invalid: " + logger.errors());
            }
            serialized = builder.buildSerializedNetwork(network, config);
            if (serialized == null || serialized.isNull()) throw new IllegalStateException("TensorRT engine build failed: " + logger.errors());
            IHostMemory plan = serialized;
            return cache.store(key, ch -> {
                MemorySegment seg = MemorySegment.ofAddress(plan.data().address()).reinterpret(plan.size());
                for (long off = 0; off < seg.byteSize(); ) {
                    long n = Math.min(1L << 30, seg.byteSize() - off);
                    ByteBuffer buf = seg.asSlice(off, n).asByteBuffer();
                    while (buf.hasRemaining()) ch.write(buf);
                    off += n;
                }
            });
        } finally {
            if (serialized != null) serialized.deallocate();
            if (config != null) config.deallocate();
            if (parser != null) parser.deallocate();
            if (network != null) network.deallocate();
            builder.deallocate();
        }
    }

    static Dims64 dims(long[] v) {
        Dims64 d = new Dims64();
        d.nbDims(v.length);
        for (int i = 0; i < v.length; i++) d.d(i, v[i]);
        return d;
    }

    public ModelDescriptor descriptor() { return descriptor; }

    public TensorRtSettings settings() { return settings; }

    public Variant variant() { return variant; }

    public Path file() { return file; }

    /** The execution context of profile {@code i} (0 prefill, 1 decode). */
    IExecutionContext context(int i) {
        if (closed) throw new IllegalStateException("TensorRT engine " + file + " is closed");
        return contexts.get(i);
    }

    String errors() { return logger.errors(); }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (IExecutionContext c : contexts) c.deallocate();
        engine.deallocate();
        runtime.deallocate();
        logger.deallocate();
    }

    /** TensorRT's log: warnings and errors to stderr, the last errors kept for exception messages. */
    static final class Logger extends ILogger {
        private final List<String> recent = new ArrayList<>();

        @Override
        public void log(Severity severity, String msg) {
            Severity s = severity.intern();
            if (s == Severity.kINFO || s == Severity.kVERBOSE) return;
            if (s == Severity.kERROR || s == Severity.kINTERNAL_ERROR) {
                synchronized (recent) {
                    recent.add(msg);
                    if (recent.size() > 8) recent.removeFirst();
                }
            }
            System.err.println("[TensorRT " + s + "] " + msg);
        }

        String errors() {
            synchronized (recent) {
                return recent.isEmpty() ? "no error logged" : String.join(" | ", recent);
            }
        }
    }
}
