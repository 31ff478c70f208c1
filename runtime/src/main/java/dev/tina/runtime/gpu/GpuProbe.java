package dev.tina.runtime.gpu;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * What GPU this process can see, asked of the NVIDIA driver (libcuda.so.1, the driver API) through
 * the FFM API: no JNI library has to load for it, so "is there a GPU" is answerable in any build,
 * and the engine cache key gets the GPU's name and compute capability.
 */
public final class GpuProbe {
    private GpuProbe() {}

    /** One device as the driver describes it. */
    public record Gpu(int index, String name, int major, int minor, long totalMemoryBytes, int driverVersion) {
        public String computeCapability() { return major + "." + minor; }

        @Override
        public String toString() {
            return String.format("%s (sm_%d%d, %.1f GiB, driver API %d.%d)", name, major, minor, totalMemoryBytes / (double) (1L << 30),
                    driverVersion / 1000, driverVersion % 1000 / 10);
        }
    }

    private static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    private static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

    private static volatile Optional<Gpu> cached;

    /** Device 0, or empty when there is no driver or no device (the reason: {@link #whyNot()}). */
    public static Optional<Gpu> gpu() {
        Optional<Gpu> c = cached;
        if (c == null) {
            synchronized (GpuProbe.class) {
                if (cached == null) cached = detect();
                c = cached;
            }
        }
        return c;
    }

    private static volatile String whyNot = null;

    /** Why {@link #gpu()} is empty, for messages and test skip reasons. */
    public static String whyNot() {
        gpu();
        return whyNot == null ? "a GPU is present" : whyNot;
    }

    private static Optional<Gpu> detect() {
        String load = NativeLibraries.tryLoad("libcuda.so.1");
        if (load != null) {
            whyNot = "no NVIDIA driver on this machine (libcuda.so.1 does not load)";
            return Optional.empty();
        }
        Linker linker = Linker.nativeLinker();
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup cuda = SymbolLookup.libraryLookup("libcuda.so.1", arena);
            MethodHandle init = fn(linker, cuda, "cuInit", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            MethodHandle count = fn(linker, cuda, "cuDeviceGetCount", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
            MethodHandle get = fn(linker, cuda, "cuDeviceGet", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MethodHandle name = fn(linker, cuda, "cuDeviceGetName",
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            MethodHandle attr = fn(linker, cuda, "cuDeviceGetAttribute",
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            MethodHandle mem = fn(linker, cuda, "cuDeviceTotalMem_v2",
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MethodHandle driver = fn(linker, cuda, "cuDriverGetVersion", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
            int rc = (int) init.invokeExact(0);
            if (rc != 0) {
                whyNot = "the NVIDIA driver is present but cuInit failed (CUresult " + rc + "; 100 = no device)";
                return Optional.empty();
            }
            MemorySegment n = arena.allocate(ValueLayout.JAVA_INT);
            check((int) count.invokeExact(n), "cuDeviceGetCount");
            if (n.get(ValueLayout.JAVA_INT, 0) < 1) {
                whyNot = "the NVIDIA driver reports no device";
                return Optional.empty();
            }
            MemorySegment dev = arena.allocate(ValueLayout.JAVA_INT);
            check((int) get.invokeExact(dev, 0), "cuDeviceGet");
            int d = dev.get(ValueLayout.JAVA_INT, 0);
            MemorySegment buf = arena.allocate(256);
            check((int) name.invokeExact(buf, 256, d), "cuDeviceGetName");
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            check((int) attr.invokeExact(v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d), "cuDeviceGetAttribute");
            int major = v.get(ValueLayout.JAVA_INT, 0);
            check((int) attr.invokeExact(v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d), "cuDeviceGetAttribute");
            int minor = v.get(ValueLayout.JAVA_INT, 0);
            MemorySegment bytes = arena.allocate(ValueLayout.JAVA_LONG);
            check((int) mem.invokeExact(bytes, d), "cuDeviceTotalMem");
            check((int) driver.invokeExact(v), "cuDriverGetVersion");
            return Optional.of(new Gpu(0, buf.getString(0), major, minor, bytes.get(ValueLayout.JAVA_LONG, 0), v.get(ValueLayout.JAVA_INT, 0)));
        } catch (Throwable t) {
            whyNot = "asking the NVIDIA driver about devices failed: " + t;
            return Optional.empty();
        }
    }

    private static MethodHandle fn(Linker linker, SymbolLookup lib, String name, FunctionDescriptor d) {
        return linker.downcallHandle(lib.find(name).orElseThrow(() -> new IllegalStateException("libcuda.so.1 has no symbol " + name)), d);
    }

    private static void check(int rc, String what) {
        if (rc != 0) throw new IllegalStateException(what + " returned CUresult " + rc);
    }

    /** Fails with the reason unless a GPU is visible; {@code path} names what needed it ("--device cuda"). */
    public static Gpu require(String path) {
        return gpu().orElseThrow(() -> new GpuUnavailableException(path + " cannot start: " + whyNot() + "; run with --device cpu"));
    }
}
