package dev.tina.tools.dist;

import dev.tina.export.AtomicOutputDirectory;
import dev.tina.export.ToolVersion;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Writes a self-contained distribution folder {@code tina-VERSION-linux-x86_64[-cuda][-slim]/} and its
 * {@code .tar.xz}: a jlink'd Java runtime ({@code runtime/}), the application's jars without other
 * platforms' natives ({@code lib/}), the native libraries ONNX Runtime and the tokenizer load
 * ({@code lib/native/}, named to them by {@code bin/tina}), and {@code bin/tina}.
 */
public final class Distribution {
    /** The options of one build: where, CUDA natives (bytedeco's GPU jar) or none, architectures to keep, slim. */
    public record Options(Path out, Path cudaJar, Set<Integer> cudaArchs, boolean slim, int xzPreset) {
        public boolean cuda() { return cudaJar != null; }

        public String name() {
            return "tina-" + ToolVersion.VERSION + "-linux-x86_64" + (cuda() ? "-cuda" : "") + (slim ? "-slim" : "");
        }
    }

    static final String BYTEDECO_CPU = "org/bytedeco/onnxruntime/linux-x86_64/";
    static final String BYTEDECO_GPU = "org/bytedeco/onnxruntime/linux-x86_64-gpu/";
    static final String MICROSOFT_JNI = "ai/onnxruntime/native/linux-x64/libonnxruntime4j_jni.so";
    static final String TOKENIZERS_NATIVE = "native/lib/linux-x86_64/cpu/libtokenizers.so";
    /**
     * What a slim distribution leaves out, with every jar only these reach: the grader's CAS (Symja), the
     * charts (JFreeChart) and the dataset reader (Apache Arrow) — all only used by grade, eval, train and
     * demo, which refuse without the CAS — and, from tina.jar, the embedded model the demo trains.
     */
    static final List<String> SLIM_LEAVES_OUT = List.of("matheclipse-core-", "jfreechart-", "arrow-");
    static final String EMBEDDED_MODEL = "onnx-models/tiny-reasoner/";

    private final PrintStream log;

    public Distribution(PrintStream log) { this.log = log; }

    /** The built folder and archive. */
    public record Built(Path folder, Path archive, List<String> leftOut) {}

    /**
     * Builds from the application jar and the jars beside it in {@code lib/} (the layout {@code mvn
     * package} leaves in {@code tools/target}).
     */
    public Built build(Path appJar, Options o) throws IOException, InterruptedException {
        ToolProvider jlink = ToolProvider.findFirst("jlink").orElseThrow(() -> new IllegalArgumentException(
                "tina dist needs a JDK 25 with jlink; this Java runtime has none (run ./tina dist from a checkout)"));
        Path libIn = appJar.resolveSibling("lib");
        if (!Files.isRegularFile(appJar) || !Files.isDirectory(libIn)) {
            throw new IllegalArgumentException("tina dist needs the packaged " + appJar.getFileName() + " with lib/ beside it (mvn -B -DskipTests install)");
        }
        List<Path> jars = new ArrayList<>(List.of(appJar));
        try (Stream<Path> s = Files.list(libIn)) {
            s.filter(p -> p.toString().endsWith(".jar")).sorted().forEach(jars::add);
        }
        Path cpuOrt = only(jars, "onnxruntime-", "-linux-x86_64.jar");
        Path msOrt = jars.stream().filter(j -> j.getFileName().toString().matches("onnxruntime-[\\d.]+\\.jar")).findFirst()
                .orElseThrow(() -> new IllegalArgumentException(libIn + ": no Microsoft onnxruntime-VERSION.jar"));
        Path tokenizers = only(jars, "tokenizers-", ".jar");
        jars.removeIf(j -> j.getFileName().toString().contains("-linux-x86_64-gpu")); // a -Pgpu build's jar: natives only, taken from o.cudaJar
        jars.remove(cpuOrt);

        List<String> leftOut = new ArrayList<>();
        if (o.slim()) {
            Set<String> out = slimLeavesOut(jars);
            jars.removeIf(j -> out.contains(j.getFileName().toString()));
            leftOut.addAll(new TreeSet<>(out));
            leftOut.add(appJar.getFileName() + "!/" + EMBEDDED_MODEL);
        }

        Path target = o.out().resolve(o.name());
        try (AtomicOutputDirectory dir = new AtomicOutputDirectory(target, true)) {
            Path root = dir.path();
            List<String> modules = RuntimeModules.of(o.slim());
            log.println("tina dist: linking the Java runtime (" + String.join(",", modules) + ")");
            jlink(jlink, modules, root.resolve("runtime"));

            Path lib = Files.createDirectories(root.resolve("lib"));
            Path natives = Files.createDirectories(lib.resolve("native"));
            long stripped = 0;
            for (Path j : jars) {
                Path to = lib.resolve(j.getFileName());
                Predicate<String> drop = j.equals(msOrt) ? n -> n.startsWith("ai/onnxruntime/native/")
                        : j.equals(tokenizers) ? n -> n.startsWith("native/lib/") && !n.endsWith(".properties")
                        : j.equals(appJar) && o.slim() ? n -> n.startsWith(EMBEDDED_MODEL)
                        : JarRepacker::foreignNative;
                stripped += JarRepacker.copyWithout(j, to, drop);
            }
            log.printf("tina dist: %d jars, %.1f MB left out of them (other platforms' natives%s)%n", jars.size(), stripped / 1e6, o.slim() ? ", the embedded model" : "");

            // The natives the loaders are pointed at: onnxruntime.native.path (Microsoft's loader, TrainingNatives
            // leaves a given path alone) and RUST_LIBRARY_PATH (DJL's tokenizers).
            String from = o.cuda() ? BYTEDECO_GPU : BYTEDECO_CPU;
            Path ortJar = o.cuda() ? o.cudaJar() : cpuOrt;
            JarRepacker.extract(ortJar, from + "libonnxruntime.so.1", natives.resolve("libonnxruntime.so"));
            JarRepacker.extract(ortJar, from + "libonnxruntime_providers_shared.so", natives.resolve("libonnxruntime_providers_shared.so"));
            JarRepacker.extract(msOrt, MICROSOFT_JNI, natives.resolve("libonnxruntime4j_jni.so"));
            JarRepacker.extract(tokenizers, TOKENIZERS_NATIVE, natives.resolve("libtokenizers.so"));
            if (o.cuda()) {
                Path provider = natives.resolve("libonnxruntime_providers_cuda.so");
                JarRepacker.extract(ortJar, from + "libonnxruntime_providers_cuda.so", provider);
                if (o.cudaArchs() != null) {
                    FatbinPruner.Result r = FatbinPruner.prune(provider, o.cudaArchs());
                    log.printf("tina dist: %s: kept %s of %s (%d fat binaries, %d entries dropped, %.1f MB zeroed)%n", provider.getFileName(),
                            FatbinPruner.names(o.cudaArchs()), FatbinPruner.names(r.found()), r.fatbins(), r.entriesDropped(), r.bytesFreed() / 1e6);
                }
            }
            stripNatives(root);
            writeLauncher(root.resolve("bin"), o.cuda());
            copyConfigs(appJar, Files.createDirectories(root.resolve("configs")));
            Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x")); // a temporary folder starts private
            dir.commit();
        }
        Path archive = o.out().resolve(o.name() + ".tar.xz");
        log.println("tina dist: compressing " + archive.getFileName());
        tarXz(o.out(), o.name(), archive, o.xzPreset());
        return new Built(target, archive, leftOut);
    }

    private static Path only(List<Path> jars, String prefix, String suffix) {
        List<Path> m = jars.stream().filter(j -> j.getFileName().toString().startsWith(prefix) && j.getFileName().toString().endsWith(suffix)
                && !j.getFileName().toString().endsWith("-gpu.jar")).toList();
        if (m.size() != 1) throw new IllegalArgumentException("expected one " + prefix + "*" + suffix + " among the application's jars, found " + m.size());
        return m.getFirst();
    }

    /**
     * The jars a slim distribution leaves out: those {@link #SLIM_LEAVES_OUT} name and those they reach (by
     * jdeps) that no other jar reaches without going through them. A jar nothing references (SLF4J's
     * binding, found by ServiceLoader) stays.
     */
    static Set<String> slimLeavesOut(List<Path> jars) throws IOException {
        Map<String, Set<String>> graph = JarDependencies.jarGraph(jars);
        Set<String> roots = new TreeSet<>();
        for (String prefix : SLIM_LEAVES_OUT) {
            List<String> named = graph.keySet().stream().filter(n -> n.startsWith(prefix)).toList();
            if (named.isEmpty()) throw new IllegalArgumentException("--slim: no " + prefix + "*.jar among the application's jars");
            roots.addAll(named);
        }
        Set<String> fromRoots = reach(graph, List.copyOf(roots), Set.of());
        List<String> others = graph.keySet().stream().filter(n -> !fromRoots.contains(n)).toList();
        fromRoots.removeAll(reach(graph, others, roots));
        return fromRoots;
    }

    private static Set<String> reach(Map<String, Set<String>> graph, List<String> roots, Set<String> cut) {
        Set<String> seen = new HashSet<>();
        ArrayDeque<String> todo = new ArrayDeque<>(roots);
        while (!todo.isEmpty()) {
            String n = todo.pop();
            if (cut.contains(n) || !seen.add(n)) continue;
            todo.addAll(graph.getOrDefault(n, Set.of()));
        }
        return seen;
    }

    /**
     * What a command-line runtime never loads: the X11 toolkit, the splash screen, sound and the AWT native
     * interface ({@code bin/tina} runs headless; the charts draw into images through the headless toolkit).
     */
    static final List<String> RUNTIME_LEAVES_OUT = List.of("libawt_xawt.so", "libsplashscreen.so", "libjsound.so", "libjawt.so");

    private static void jlink(ToolProvider jlink, List<String> modules, Path to) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        // No --compress: the modules file stays uncompressed (even zip-0 wraps every resource in a header and
        // stored blocks, 0.8 MB more), so xz compresses the whole far better.
        int rc = jlink.run(new PrintStream(out), new PrintStream(out), "--add-modules", String.join(",", modules),
                "--output", to.toString(), "--strip-debug", "--no-header-files", "--no-man-pages",
                "--exclude-files=" + String.join(",", RUNTIME_LEAVES_OUT.stream().map(f -> "**/" + f).toList()));
        if (rc != 0) throw new IllegalStateException("jlink failed (exit " + rc + "): " + out);
    }

    /**
     * Strips symbol tables and debug sections off every shared library ({@code strip --strip-unneeded}, as
     * Linux distributions do for theirs): about 15% of the bytes, a tenth of the archive. Skipped with a note
     * where binutils' strip is missing.
     */
    private void stripNatives(Path root) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("strip", "--strip-unneeded"));
        try (Stream<Path> s = Files.walk(root)) {
            s.filter(p -> Files.isRegularFile(p) && p.getFileName().toString().matches(".*\\.so(\\.\\d+)*")).sorted().forEach(p -> cmd.add(p.toString()));
        }
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            log.println("tina dist: no strip on PATH (binutils): native libraries keep their symbols");
            return;
        }
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) throw new IOException("strip --strip-unneeded failed (exit " + p.exitValue() + "): " + out.strip());
    }

    /** bin/tina, and in a CUDA distribution the device check (tools/gpu-check.sh) beside it. */
    private static void writeLauncher(Path bin, boolean cuda) throws IOException {
        Files.createDirectories(bin);
        copyScript("tina.sh", bin.resolve("tina"));
        if (cuda) copyScript("gpu-check.sh", bin.resolve("gpu-check.sh"));
    }

    private static void copyScript(String resource, Path to) throws IOException {
        try (InputStream in = Distribution.class.getResourceAsStream(resource)) {
            if (in == null) throw new IOException("resource dev/tina/tools/dist/" + resource + " missing from the class path");
            Files.copy(in, to);
        }
        Files.setPosixFilePermissions(to, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /** The model configs of the application jar (a tiny shape, the 1.5B shape) as files, for tina init-model --config. */
    private static void copyConfigs(Path appJar, Path to) throws IOException {
        try (ZipFile jar = new ZipFile(appJar.toFile())) {
            for (ZipEntry e : jar.stream().filter(e -> e.getName().matches("onnx-models/configs/[^/]+\\.json")).toList()) {
                try (InputStream in = jar.getInputStream(e)) {
                    Files.copy(in, to.resolve(e.getName().substring(e.getName().lastIndexOf('/') + 1)));
                }
            }
        }
    }

    /** {@code tar | xz} (the system's tools: the JDK has no xz), written under a temporary name and renamed. */
    static void tarXz(Path parent, String folder, Path archive, int preset) throws IOException, InterruptedException {
        Path tmp = archive.resolveSibling("." + archive.getFileName() + ".tmp");
        List<ProcessBuilder> pipeline = List.of(
                new ProcessBuilder("tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-C", parent.toString(), "-cf", "-", folder),
                new ProcessBuilder("xz", "-T2", "--x86", "--lzma2=preset=" + preset, "-c").redirectOutput(tmp.toFile()));
        for (ProcessBuilder p : pipeline) p.redirectError(ProcessBuilder.Redirect.INHERIT);
        List<Process> ps;
        try {
            ps = ProcessBuilder.startPipeline(pipeline);
        } catch (IOException e) {
            throw new IOException("tina dist needs tar and xz on PATH: " + e.getMessage(), e);
        }
        for (Process p : ps) {
            if (p.waitFor() != 0) {
                Files.deleteIfExists(tmp);
                throw new IOException(String.join(" ", p.info().command().orElse("tar/xz")) + " failed (exit " + p.exitValue() + ")");
            }
        }
        Files.move(tmp, archive, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
