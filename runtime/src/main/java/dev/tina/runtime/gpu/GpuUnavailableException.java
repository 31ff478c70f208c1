package dev.tina.runtime.gpu;

/**
 * A GPU path (CUDA or TensorRT) cannot start on this machine: a library is missing, there is no
 * GPU, or the build lacks the GPU natives. The message names what is missing and how to get it.
 * It is an {@link IllegalArgumentException} on purpose: the user asked for a device that cannot
 * run here, so the command line reports it in one line (exit 2) like any other unusable option,
 * instead of a stack trace or a JVM crash inside a native loader.
 */
public final class GpuUnavailableException extends IllegalArgumentException {
    public GpuUnavailableException(String message) { super(message); }

    public GpuUnavailableException(String message, Throwable cause) { super(message, cause); }
}
