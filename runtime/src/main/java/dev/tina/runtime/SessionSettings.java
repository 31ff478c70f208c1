package dev.tina.runtime;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;

import java.util.Locale;

/** How to build an ONNX Runtime session: device (execution provider) and threading. */
public record SessionSettings(Device device, int intraOpThreads, SharedWeights sharedWeights) {

    public SessionSettings(Device device, int intraOpThreads) { this(device, intraOpThreads, null); }

    /** These settings, with the base weights shared from {@code weights} (see {@link SharedWeights}). */
    public SessionSettings withSharedWeights(SharedWeights weights) { return new SessionSettings(device, intraOpThreads, weights); }

    /** Where the decoder runs. CPU is always there; CUDA needs an ONNX Runtime build that has it. */
    public enum Device {
        CPU, CUDA;

        public static Device parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "cpu" -> CPU;
                case "cuda", "gpu" -> CUDA;
                case "tensorrt" -> throw new IllegalArgumentException("device 'tensorrt' is not available yet (planned); use cpu or cuda");
                default -> throw new IllegalArgumentException("unknown device '" + s + "', expected cpu or cuda");
            };
        }
    }

    public SessionSettings {
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
        o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (intraOpThreads > 0) o.setIntraOpNumThreads(intraOpThreads);
        if (sharedWeights != null) sharedWeights.addTo(o);
        if (device == Device.CUDA) {
            if (!OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
                o.close();
                throw new IllegalArgumentException("the CUDA execution provider is not in this ONNX Runtime build (available: "
                        + OrtEnvironment.getAvailableProviders() + "); the default build is CPU-only; run with --device cpu");
            }
            o.addCUDA(0);
        }
        return o;
    }
}
