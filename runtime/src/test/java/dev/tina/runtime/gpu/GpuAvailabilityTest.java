package dev.tina.runtime.gpu;

import dev.tina.runtime.SessionSettings;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Device selection and the messages a GPU path gives when it cannot start: checked without a GPU. */
class GpuAvailabilityTest {
    @Test
    void devicesParseWithTheChoicesListed() {
        assertEquals(SessionSettings.Device.CPU, SessionSettings.Device.parse("CPU"));
        assertEquals(SessionSettings.Device.CUDA, SessionSettings.Device.parse("gpu"));
        assertEquals(SessionSettings.Device.TENSORRT, SessionSettings.Device.parse("tensorrt"));
        assertEquals(SessionSettings.Device.TENSORRT, SessionSettings.Device.parse("trt"));
        var e = assertThrows(IllegalArgumentException.class, () -> SessionSettings.Device.parse("tpu"));
        assertEquals("unknown device 'tpu', expected cpu, cuda or tensorrt", e.getMessage());
        // TensorRT samples on its engine; its ONNX Runtime sessions (training, scoring) use CUDA
        assertEquals(SessionSettings.Device.CUDA, SessionSettings.Device.TENSORRT.ortDevice());
        assertEquals(SessionSettings.Device.CPU, SessionSettings.Device.CPU.ortDevice());
    }

    @Test
    void loaderErrorsNameTheLibrary() {
        // ONNX Runtime names its provider first and the library that is really missing after it
        String ort = "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: "
                + "No such file or directory";
        assertEquals("libcublasLt.so.13", NativeLibraries.libraryNamedIn(ort));
        var ortError = NativeLibraries.explain("--device cuda", new ai.onnxruntime.OrtException(ort));
        assertTrue(ortError.getMessage().startsWith("--device cuda cannot start: missing libcublasLt.so.13 (cuBLASLt 13): install the CUDA 13 runtime"),
                ortError.getMessage());
        assertEquals("libjninvinfer.so", NativeLibraries.libraryNamedIn("no jninvinfer in java.library.path: [/usr/lib]"));
        assertNull(NativeLibraries.libraryNamedIn("something else"));

        var cudnn = NativeLibraries.explain("--device cuda", new UnsatisfiedLinkError("libcudnn.so.9: cannot open shared object file: No such file or directory"));
        assertTrue(cudnn.getMessage().startsWith("--device cuda cannot start: missing libcudnn.so.9 (cuDNN 9): install cuDNN 9"), cudnn.getMessage());
        var trt = NativeLibraries.explain("--device tensorrt", new NoClassDefFoundError("Could not initialize class org.bytedeco.tensorrt.global.nvinfer")
                .initCause(new UnsatisfiedLinkError("libnvinfer.so.10: cannot open shared object file")));
        assertTrue(trt.getMessage().contains("missing libnvinfer.so.10 (TensorRT 10 (libnvinfer)): install TensorRT 10.x"), trt.getMessage());
        var jni = NativeLibraries.explain("--device tensorrt", new UnsatisfiedLinkError("no jninvinfer in java.library.path"));
        assertTrue(jni.getMessage().contains("no JavaCPP JNI glue (libjninvinfer.so): build with mvn -Pgpu"), jni.getMessage());
    }

    @Test
    void missingLibrariesAreListedWithWhereToGetThem() {
        String m = NativeLibraries.describeMissing("--device cuda", List.of(NativeLibraries.CUDA_EP.get(1), NativeLibraries.CUDA_EP.get(6)));
        assertTrue(m.startsWith("--device cuda cannot start: missing libcudart.so.13 (CUDA runtime 13): install the CUDA 13 runtime"), m);
        assertTrue(m.contains("; libcudnn.so.9 (cuDNN 9): install cuDNN 9") && m.contains("LD_LIBRARY_PATH="), m);
        String noDriver = NativeLibraries.describeMissing("--device tensorrt", List.of(NativeLibraries.DRIVER, NativeLibraries.TENSORRT.get(2)));
        assertTrue(noDriver.contains("no NVIDIA driver (libcuda.so.1 not found)") && noDriver.contains("--device cpu"), noDriver);
    }

    @Test
    void theProbeLoadsRealLibrariesAndReportsAbsentOnes() {
        assertNull(NativeLibraries.tryLoad("libc.so.6"));
        assertNotNull(NativeLibraries.tryLoad("libtina-no-such-library.so.1"));
    }

    @Test
    void withoutAGpuEveryGpuPathFailsWithOneClearLine() {
        assumeTrue(GpuProbe.gpu().isEmpty(), "this machine has a GPU: " + GpuProbe.gpu().map(Object::toString).orElse(""));
        assertTrue(GpuProbe.whyNot().contains("libcuda.so.1") || GpuProbe.whyNot().contains("no device"), GpuProbe.whyNot());
        var e = assertThrows(GpuUnavailableException.class, TensorRtEngine::loadNatives);
        assertTrue(e.getMessage().startsWith("--device tensorrt cannot start: ") && e.getMessage().contains("--device cpu"), e.getMessage());
        var cuda = assertThrows(GpuUnavailableException.class, () -> SessionSettings.of(SessionSettings.Device.CUDA).toOptions());
        assertTrue(cuda.getMessage().startsWith("--device cuda cannot start: "), cuda.getMessage());
        // the default build's natives are CPU-only, and that is named first
        assertTrue(cuda.getMessage().contains("mvn -Pgpu") || cuda.getMessage().contains("NVIDIA"), cuda.getMessage());
        assertTrue(e instanceof IllegalArgumentException, "the CLI prints IllegalArgumentException as one line, exit 2");
    }
}
