package dev.tina.runtime.gpu;

import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;

import java.lang.foreign.MemorySegment;

import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaFreeHost;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMallocHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemsetAsync;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreate;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;

/**
 * The few CUDA runtime calls the TensorRT path makes (through JavaCPP's cudart presets), each
 * checked, and owners for device and pinned host memory. Callers load the natives first
 * ({@link TensorRtEngine#loadNatives()}).
 */
final class Cuda {
    private Cuda() {}

    static void check(int rc, String what) {
        if (rc != 0) {
            BytePointer s = cudaGetErrorString(rc);
            throw new IllegalStateException("CUDA error in " + what + ": " + (s == null ? "code " + rc : s.getString()) + " (" + rc + ")");
        }
    }

    /** A JavaCPP pointer to a raw address (device or host), for calls that take {@code void*}. */
    static Pointer at(long address) { return new Address(address); }

    private static final class Address extends Pointer {
        Address(long a) {
            super();
            this.address = a;
        }
    }

    /** One cudaMalloc'd block; owns it. */
    static final class DeviceMemory implements AutoCloseable {
        final long bytes;
        private final Pointer ptr = new Pointer();
        private boolean freed;

        DeviceMemory(long bytes, String what) {
            this.bytes = Math.max(bytes, 1);
            check(cudaMalloc(ptr, this.bytes), "cudaMalloc(" + this.bytes + " bytes for " + what + ")");
        }

        long address() {
            if (freed) throw new IllegalStateException("device memory used after free");
            return ptr.address();
        }

        Pointer pointer() { return at(address()); }

        Pointer pointer(long byteOffset) { return at(address() + byteOffset); }

        @Override
        public void close() {
            if (!freed) {
                freed = true;
                cudaFree(ptr);
            }
        }
    }

    /** Page-locked host memory (fast, asynchronous copies); owns it, readable as a MemorySegment. */
    static final class PinnedMemory implements AutoCloseable {
        final long bytes;
        private final Pointer ptr = new Pointer();
        private final MemorySegment segment;
        private boolean freed;

        PinnedMemory(long bytes, String what) {
            this.bytes = Math.max(bytes, 1);
            check(cudaMallocHost(ptr, this.bytes), "cudaMallocHost(" + this.bytes + " bytes for " + what + ")");
            this.segment = MemorySegment.ofAddress(ptr.address()).reinterpret(this.bytes);
        }

        MemorySegment segment() {
            if (freed) throw new IllegalStateException("pinned memory used after free");
            return segment;
        }

        Pointer pointer() { return at(ptr.address()); }

        @Override
        public void close() {
            if (!freed) {
                freed = true;
                cudaFreeHost(ptr);
            }
        }
    }

    /** One CUDA stream; owns it. */
    static final class Stream implements AutoCloseable {
        final CUstream_st handle = new CUstream_st();
        private boolean destroyed;

        Stream() { check(cudaStreamCreate(handle), "cudaStreamCreate"); }

        void sync(String what) { check(cudaStreamSynchronize(handle), "cudaStreamSynchronize after " + what); }

        void toDevice(DeviceMemory dst, long dstOffset, PinnedMemory src, long bytes) {
            check(cudaMemcpyAsync(dst.pointer(dstOffset), src.pointer(), bytes, cudaMemcpyHostToDevice, handle), "cudaMemcpyAsync H2D");
        }

        void toHost(PinnedMemory dst, DeviceMemory src, long bytes) {
            check(cudaMemcpyAsync(dst.pointer(), src.pointer(), bytes, cudaMemcpyDeviceToHost, handle), "cudaMemcpyAsync D2H");
        }

        void deviceCopy(DeviceMemory dst, long dstOffset, DeviceMemory src, long srcOffset, long bytes) {
            check(cudaMemcpyAsync(dst.pointer(dstOffset), src.pointer(srcOffset), bytes, cudaMemcpyDeviceToDevice, handle), "cudaMemcpyAsync D2D");
        }

        void zero(DeviceMemory dst, long bytes) { check(cudaMemsetAsync(dst.pointer(), 0, bytes, handle), "cudaMemsetAsync"); }

        @Override
        public void close() {
            if (!destroyed) {
                destroyed = true;
                cudaStreamDestroy(handle);
            }
        }
    }
}
