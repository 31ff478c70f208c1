package dev.tina.tools.dist;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JarRepackerTest {
    /** Layouts of the natives in the application's jars (JNA, JLine, DJL, Microsoft's ONNX Runtime). */
    @ParameterizedTest
    @ValueSource(strings = {"com/sun/jna/linux-aarch64/libjnidispatch.so", "com/sun/jna/linux-x86/libjnidispatch.so",
            "com/sun/jna/freebsd-x86-64/libjnidispatch.so", "com/sun/jna/linux-ppc64le/libjnidispatch.so", "com/sun/jna/win32-x86-64/jnidispatch.dll",
            "com/sun/jna/darwin-aarch64/libjnidispatch.jnilib", "org/jline/nativ/Linux/arm/libjlinenative.so", "org/jline/nativ/Linux/x86/libjlinenative.so",
            "native/lib/osx-aarch64/cpu/libtokenizers.dylib", "native/lib/linux-aarch64/cpu/libtokenizers.so",
            "ai/onnxruntime/native/linux-aarch64/libonnxruntime.so", "ai/onnxruntime/native/osx-x64/libonnxruntime.dylib"})
    void otherPlatformsNativesGo(String entry) {
        assertTrue(JarRepacker.foreignNative(entry), entry);
    }

    @ParameterizedTest
    @ValueSource(strings = {"com/sun/jna/linux-x86-64/libjnidispatch.so", "org/jline/nativ/Linux/x86_64/libjlinenative.so",
            "native/lib/linux-x86_64/cpu/libtokenizers.so", "ai/onnxruntime/native/linux-x64/libonnxruntime4j_jni.so",
            "org/bytedeco/onnxruntime/linux-x86_64/libonnxruntime.so.1", "com/sun/jna/arm/Native.class", "win/Foo.class", "native/lib/tokenizers.properties"})
    void thisPlatformsNativesAndEverythingElseStay(String entry) {
        assertFalse(JarRepacker.foreignNative(entry), entry);
    }

    @Test
    void copiesAllButTheDroppedEntriesAndSignatures(@TempDir Path dir) throws IOException {
        Path jar = dir.resolve("in.jar");
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(jar))) {
            for (String n : List.of("META-INF/MANIFEST.MF", "META-INF/SIGNER.SF", "META-INF/SIGNER.RSA", "a/A.class", "lib/linux-aarch64/libx.so", "lib/linux-x86-64/libx.so")) {
                z.putNextEntry(new ZipEntry(n));
                z.write(n.getBytes(StandardCharsets.UTF_8));
                z.closeEntry();
            }
        }
        Path out = dir.resolve("out.jar");
        long dropped = JarRepacker.copyWithout(jar, out, JarRepacker::foreignNative);
        assertEquals("lib/linux-aarch64/libx.so".length() + "META-INF/SIGNER.SF".length() + "META-INF/SIGNER.RSA".length(), dropped);
        try (ZipFile z = new ZipFile(out.toFile())) {
            assertEquals(List.of("META-INF/MANIFEST.MF", "a/A.class", "lib/linux-x86-64/libx.so"), z.stream().map(ZipEntry::getName).toList());
            assertEquals("a/A.class", new String(z.getInputStream(z.getEntry("a/A.class")).readAllBytes(), StandardCharsets.UTF_8));
        }
        JarRepacker.extract(jar, "lib/linux-x86-64/libx.so", dir.resolve("libx.so"));
        assertEquals("lib/linux-x86-64/libx.so", Files.readString(dir.resolve("libx.so")));
    }
}
