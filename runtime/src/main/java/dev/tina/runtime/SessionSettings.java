package dev.tina.runtime;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

/** How to build an ONNX Runtime session: execution provider and threading. */
public record SessionSettings(int intraOpThreads) {

    public SessionSettings {
        if (intraOpThreads < 0) throw new IllegalArgumentException("intraOpThreads must be >= 0 (0 = ONNX Runtime's default)");
    }

    public static SessionSettings cpu() {
        return new SessionSettings(Runtime.getRuntime().availableProcessors());
    }

    OrtSession.SessionOptions toOptions() throws OrtException {
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (intraOpThreads > 0) o.setIntraOpNumThreads(intraOpThreads);
        return o;
    }
}
