package dev.tina.tools.dist;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/** Copies jars without some entries, and takes native libraries out of them. */
final class JarRepacker {
    private JarRepacker() {}

    private static final Pattern NATIVE = Pattern.compile(".*\\.(so(\\.\\d+)*|dll|dylib|jnilib|a)$");
    /** Path words that name an operating system other than Linux, or a processor other than x86-64. */
    private static final Pattern OTHER_OS = Pattern.compile("win|win32|win64|windows|darwin|osx|macos|mac|freebsd|openbsd|netbsd|dragonflybsd|sunos|solaris|aix|android|ios");
    private static final Pattern OTHER_ARCH = Pattern.compile("aarch64|arm|arm64|armel|armhf|armv\\d+.*|ppc|ppc64|ppc64le|s390x|riscv64|loongarch64|mips64el|i386|i686|x86|x86_32|sparcv9");

    /**
     * Whether a jar entry is a native library for another platform. No tool prunes a jar by platform,
     * so this reads the platform from the path as the libraries lay it out ({@code linux-x86-64/},
     * {@code Linux/x86_64/}, {@code native/lib/osx-aarch64/cpu/}, {@code win32-x86/}, …): an entry is for
     * another platform when a path word names another OS or processor ("x86" alone is 32-bit, while
     * "x86-64", "x86_64" and "x64" are this one).
     */
    static boolean foreignNative(String entry) {
        String name = entry.toLowerCase(Locale.ROOT);
        if (!NATIVE.matcher(name).matches()) return false;
        if (name.endsWith(".dll") || name.endsWith(".dylib") || name.endsWith(".jnilib")) return true;
        String dir = name.contains("/") ? name.substring(0, name.lastIndexOf('/')) : "";
        for (String segment : dir.replaceAll("x86[-_]64", "amd64").split("/")) {
            for (String word : segment.split("[-_.]")) {
                if (OTHER_OS.matcher(word).matches() || OTHER_ARCH.matcher(word).matches()) return true;
            }
        }
        return false;
    }

    /**
     * Writes {@code to} (atomically) with every entry of {@code from} but those {@code drop} accepts, stored
     * uncompressed: the distribution's archive then compresses all classes as one stream, about a sixth of
     * the deflated jars' size. Returns the bytes left out (uncompressed).
     */
    static long copyWithout(Path from, Path to, Predicate<String> drop) throws IOException {
        long dropped = 0;
        Path tmp = to.resolveSibling("." + to.getFileName() + ".tmp");
        try (ZipFile in = new ZipFile(from.toFile()); ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(tmp))) {
            for (ZipEntry e : in.stream().toList()) {
                if (drop.test(e.getName()) || isSignature(e.getName())) {
                    dropped += Math.max(0, e.getSize());
                    continue;
                }
                byte[] data;
                try (InputStream d = in.getInputStream(e)) { data = d.readAllBytes(); }
                CRC32 crc = new CRC32();
                crc.update(data);
                ZipEntry copy = new ZipEntry(e.getName());
                copy.setTime(e.getTime());
                copy.setMethod(ZipEntry.STORED);
                copy.setSize(data.length);
                copy.setCompressedSize(data.length);
                copy.setCrc(crc.getValue());
                out.putNextEntry(copy);
                out.write(data);
                out.closeEntry();
            }
        }
        Files.move(tmp, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return dropped;
    }

    /** A signed jar stops verifying once entries are gone; the distribution's jars are not signed. */
    private static boolean isSignature(String name) {
        return name.matches("META-INF/[^/]+\\.(SF|RSA|DSA|EC)");
    }

    /** Writes one entry of a jar to a file (atomically); fails naming the jar and entry when it is missing. */
    static void extract(Path jar, String entry, Path to) throws IOException {
        try (ZipFile in = new ZipFile(jar.toFile())) {
            ZipEntry e = in.getEntry(entry);
            if (e == null) throw new IllegalArgumentException(jar + ": no entry " + entry + " in this jar");
            Path tmp = to.resolveSibling("." + to.getFileName() + ".tmp");
            try (InputStream data = in.getInputStream(e); OutputStream out = Files.newOutputStream(tmp)) { data.transferTo(out); }
            Files.move(tmp, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }
}
