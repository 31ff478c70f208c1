package dev.tina.tools.dist;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.testsupport.Shared;
import dev.tina.tools.Cli;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Builds the CPU distribution from the packaged application ({@code target/tina.jar}, {@code target/lib}),
 * unpacks its archive into an empty folder and runs it with an empty environment: no java on PATH, no
 * JAVA_HOME, no Maven.
 */
class DistributionIT {
    @TempDir
    static Path work;
    static Path home;
    static Path archive;

    @BeforeAll
    static void buildAndUnpack() throws Exception {
        Path appJar = Path.of(System.getProperty("tina.app.jar", "target/tina.jar"));
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Run built = run(List.of(java.toString(), "-jar", appJar.toString(), "dist", "--out", work.resolve("out").toString(), "--xz-preset", "0"), 600);
        assertEquals(0, built.rc, built.output);
        try (Stream<Path> s = Files.list(work.resolve("out"))) {
            archive = s.filter(p -> p.getFileName().toString().endsWith("-linux-x86_64.tar.xz")).findFirst().orElseThrow();
        }
        Path unpacked = Files.createDirectories(work.resolve("unpacked"));
        Run tar = run(List.of("tar", "-xJf", archive.toString(), "-C", unpacked.toString()), 300);
        assertEquals(0, tar.rc, tar.output);
        try (Stream<Path> s = Files.list(unpacked)) {
            List<Path> top = s.toList();
            assertEquals(1, top.size(), "one folder in the archive: " + top);
            home = top.getFirst();
        }
    }

    @Test
    void versionRunsOnItsOwnRuntimeInAnEmptyEnvironment() throws Exception {
        Run r = tina(120, "--version");
        assertEquals(0, r.rc, r.output);
        assertTrue(r.output.lines().anyMatch(l -> l.matches("tina \\S+")), r.output); // besides the JVM's note on the incubating Vector API
    }

    /** The embedded model through every native: bytedeco's ONNX Runtime, Microsoft's JNI glue, the tokenizer's Rust library. */
    @Test
    void generatesWithTheEmbeddedModel() throws Exception {
        Path model = Shared.REPO.resolve("onnx-models/tiny-reasoner");
        Run r = tina(300, "generate", "--model", model.toString(), "--prompt", "12+30=", "--greedy", "--max-new-tokens", "8");
        assertEquals(0, r.rc, r.output);
        assertTrue(r.output.contains("\"text\""), r.output);
    }

    /** The training graphs (forward, GRPO loss, gradients) from the distribution's runtime match the fixture's references. */
    @Test
    void passesParityWithGrpoOnTheFixture() throws Exception {
        Path fixture = Shared.path("fixtures/qwen2-small");
        Run r = tina(300, "parity", "--model", fixture.resolve("model").toString(), "--adapter", fixture.resolve("adapter").toString(),
                "--case", fixture.resolve("case.safetensors").toString(), "--grpo");
        assertEquals(0, r.rc, r.output);
        long ok = r.output.lines().filter(l -> l.endsWith(")") && l.contains(" OK (tolerance")).count();
        assertTrue(ok >= 30, "every comparison OK:\n" + r.output);
        assertFalse(r.output.contains("FAIL"), r.output);
    }

    /** A shortened demo end to end: evaluation, GRPO steps, the report (JSON, Markdown, chart); non-ASCII output under env -i. */
    @Test
    void runsAShortDemo() throws Exception {
        Path out = work.resolve("demo");
        Run r = tina(600, "demo", "--steps", "3", "--seeds", "1", "--eval-problems", "32", "--out", out.toString());
        assertEquals(0, r.rc, r.output);
        assertTrue(r.output.contains("held-out accuracy") && r.output.contains("\u2192"), "UTF-8 output without a locale:\n" + r.output);
        var report = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        assertEquals(32, report.path("evaluation").path("problems").asInt(), report.toString());
        assertTrue(report.path("accuracy_after").isNumber() && report.path("accuracy_before").isNumber(), report.toString());
        assertTrue(Files.size(out.resolve("report.png")) > 1000, "chart drawn headless");
        assertTrue(Files.exists(out.resolve("report.md")));
    }

    /** The grader's CAS (Symja) in the distribution grades every fixture case as the build does in-process. */
    @Test
    void gradesAsTheBuildDoes() throws Exception {
        Path cases = Shared.path("fixtures/grading/math_verify_cases.jsonl");
        Path graded = work.resolve("graded.jsonl");
        Run r = tina(300, "grade", "--input", cases.toString(), "--out", graded.toString());
        assertEquals(0, r.rc, r.output);
        Path inProcess = work.resolve("graded-in-process.jsonl");
        Cli.Run here = Cli.tina("grade", "--input", cases.toString(), "--out", inProcess.toString());
        assertEquals(0, here.code(), here.err());
        ObjectMapper json = new ObjectMapper();
        List<String> a = Files.readAllLines(graded), b = Files.readAllLines(inProcess);
        assertEquals(106, a.size());
        assertEquals(b.size(), a.size());
        for (int i = 0; i < a.size(); i++) {
            var x = json.readTree(a.get(i));
            var y = json.readTree(b.get(i));
            assertEquals(y.path("correct"), x.path("correct"), "line " + (i + 1) + ": " + a.get(i));
        }
    }

    @Test
    void refusesToBuildWithoutAJdk() throws Exception {
        Run r = tina(120, "dist", "--out", work.resolve("again").toString());
        assertEquals(2, r.rc, r.output);
        assertEquals("tina dist: error: tina dist needs a JDK 25 with jlink; this Java runtime has none (run ./tina dist from a checkout)",
                r.output.strip().lines().reduce((a, b) -> b).orElse(""));
    }

    /** The runtime's module list is what jdeps finds in the shipped jars: a dependency on another module fails here. */
    @Test
    void runtimeModulesAreWhatTheJarsNeed() throws IOException {
        Set<String> needed = JarDependencies.modules(jars());
        assertEquals(needed, new TreeSet<>(RuntimeModules.MODULES), "RuntimeModules.MODULES must be what jdeps --print-module-deps finds");
        Set<String> linked = new TreeSet<>();
        for (String line : Files.readAllLines(home.resolve("runtime/release"))) {
            if (line.startsWith("MODULES=")) linked.addAll(List.of(line.substring(9, line.length() - 1).split(" ")));
        }
        assertTrue(linked.containsAll(needed), "linked " + linked);
    }

    /** The slim runtime's list is what jdeps finds in the jars a slim distribution keeps (the same cut as tina dist --slim). */
    @Test
    void slimRuntimeModulesAreWhatTheSlimJarsNeed() throws IOException {
        List<Path> all = jars();
        Set<String> leftOut = Distribution.slimLeavesOut(all);
        List<Path> slim = all.stream().filter(j -> !leftOut.contains(j.getFileName().toString())).toList();
        assertTrue(slim.size() < all.size(), "the slim cut leaves jars out: " + leftOut);
        assertEquals(JarDependencies.modules(slim), new TreeSet<>(RuntimeModules.SLIM), "RuntimeModules.SLIM must be what jdeps finds in the slim jars");
    }

    /** What the runtime leaves out of its modules' natives (X11, splash screen, sound) is not in it; the headless toolkit is. */
    @Test
    void runtimeHasNoDesktopOnlyNatives() {
        for (String so : Distribution.RUNTIME_LEAVES_OUT) assertFalse(Files.exists(home.resolve("runtime/lib").resolve(so)), so);
        assertTrue(Files.isRegularFile(home.resolve("runtime/lib/libawt_headless.so")));
    }

    @Test
    void onlyThisPlatformsNativesTravel() throws IOException {
        List<String> foreign = new ArrayList<>();
        for (Path j : jars()) {
            try (ZipFile z = new ZipFile(j.toFile())) {
                z.stream().filter(e -> JarRepacker.foreignNative(e.getName()) || e.getName().startsWith("ai/onnxruntime/native/")
                        || e.getName().matches("native/lib/.*\\.so")).forEach(e -> foreign.add(j.getFileName() + "!" + e.getName()));
            }
        }
        assertTrue(foreign.isEmpty(), foreign.toString());
        assertFalse(Files.exists(home.resolve("lib/onnxruntime-1.24.1-1.5.13-linux-x86_64.jar")), "bytedeco's natives travel as files, not as their jar");
        for (String so : List.of("libonnxruntime.so", "libonnxruntime_providers_shared.so", "libonnxruntime4j_jni.so", "libtokenizers.so")) {
            assertTrue(Files.isRegularFile(home.resolve("lib/native").resolve(so)), so);
        }
    }

    static List<Path> jars() throws IOException {
        try (Stream<Path> s = Files.list(home.resolve("lib"))) {
            return s.filter(p -> p.toString().endsWith(".jar")).sorted().toList();
        }
    }

    record Run(int rc, String output) {}

    /** {@code bin/tina args} under an empty environment (its cache in the test's folder). */
    static Run tina(long timeoutSeconds, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("env", "-i", "TINA_CACHE=" + work.resolve("cache"), home.resolve("bin/tina").toString()));
        command.addAll(List.of(args));
        return run(command, timeoutSeconds);
    }

    static Run run(List<String> command, long timeoutSeconds) throws IOException, InterruptedException {
        Path log = Files.createTempFile(work, "run-", ".log");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("timed out after " + timeoutSeconds + " s: " + command + "\n" + Files.readString(log, StandardCharsets.UTF_8));
        }
        return new Run(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
    }
}
