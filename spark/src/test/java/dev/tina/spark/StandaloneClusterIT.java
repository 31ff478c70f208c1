package dev.tina.spark;

import dev.tina.testsupport.Shared;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.spark.standalone.StandaloneCluster;
import dev.tina.training.grpo.GrpoTrainer;
import dev.tina.training.tiny.TinyDemo;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * tina on a real Spark standalone cluster: a master, a worker and the executor JVMs it forks, all
 * separate processes started from the Spark 4.2.0 home assembled from Maven Central; every driver
 * is a separate process too, started as users start it (Spark's jars first, then the application
 * jar), or through Spark's own {@code SparkSubmit}. The demo recipe on the embedded model; each
 * cluster run is compared with the single-process run cut into the same two slices: every metric
 * but wall-clock times and Spark's own costs bit for bit, and the adapter byte for byte (the same
 * code on the same inputs in the same order: rollouts are functions of adapter version, prompts
 * and seeds, and gradients are summed on the driver in micro-batch order).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class StandaloneClusterIT {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Path REPO = Shared.REPO;
    static final Path SPARK_HOME = Path.of(System.getProperty("tina.spark.home", REPO.resolve("spark/home/target/spark-home").toString()));
    static final Path APP_JAR = Path.of(System.getProperty("tina.app.jar", REPO.resolve("spark/target/tina-spark-app.jar").toString()));
    static final int STEPS = 4;
    @TempDir static Path tmp;
    static StandaloneCluster cluster;
    static Path recipe, data, cache, evalModel;
    static List<JsonNode> single;
    static byte[] singleAdapter;

    @BeforeAll
    static void clusterAndSingleProcessRun() throws Exception {
        assertTrue(Files.isRegularFile(APP_JAR), APP_JAR + " missing: the application jar is built in the package phase");
        cache = Path.of(System.getenv().getOrDefault("TINA_CACHE", tmp.resolve("cache").toString()));
        cluster = StandaloneCluster.start(new StandaloneCluster.Options(SPARK_HOME, 1, 2, "3g", tmp.resolve("cluster"), Duration.ofSeconds(90)));
        data = tmp.resolve("prompts.jsonl");
        TinyDemo.writePrompts(data, 200);
        // the demo's recipe, with the model and prompts filled in as tina demo does, shortened
        StringBuilder r = new StringBuilder();
        List<String> replaced = List.of("max_steps", "per_device_train_batch_size", "save_total_limit");
        for (String line : Files.readAllLines(REPO.resolve("onnx-models/recipes/demo-tiny-arith.yaml"))) {
            if (replaced.stream().noneMatch(k -> line.startsWith(k + ":"))) r.append(line).append('\n');
        }
        r.append("model_name_or_path: ").append(REPO.resolve("onnx-models/tiny-reasoner")).append('\n')
                .append("dataset_path: ").append(data).append('\n')
                .append("max_steps: ").append(STEPS).append('\n')
                .append("per_device_train_batch_size: 8\nsave_steps: 2\nsave_total_limit: 2\n");
        recipe = tmp.resolve("demo.yaml");
        Files.writeString(recipe, r);
        evalModel = SparkEvalTest.randomQwen(tmp);
        Path out = tmp.resolve("single");
        Result s = run(driver(List.of("train", "--recipe", recipe.toString(), "--out", out.toString(), "--rollout-slices", "2"), "single"), 300);
        assertEquals(0, s.code(), s.log());
        single = deterministic(out);
        singleAdapter = adapter(out, STEPS);
    }

    @AfterAll
    static void stop() {
        for (ProcessHandle driver : DRIVERS) driver.destroyForcibly(); // a failed test may leave its driver running
        if (cluster != null) cluster.close();
        // no stray JVM: the master, the workers and every executor are gone
        if (cluster != null) assertTrue(cluster.executors().isEmpty(), "executors left running");
    }

    @Test
    @Order(1)
    void trainOnTheClusterLogsTheSameMetricsAndAdapterAsOneProcess() throws Exception {
        Path out = tmp.resolve("cluster");
        Result r = run(driver(train(out), "cluster"), 300);
        assertEquals(0, r.code(), r.log());
        assertEquals(single, deterministic(out));
        assertArrayEquals(singleAdapter, adapter(out, STEPS));
        // it ran on executors: every step was Spark tasks, and the worker's folder holds the application jar it fetched
        for (JsonNode m : metrics(out)) assertEquals(2, m.path("spark_tasks").asInt(), m.toString());
        try (Stream<Path> s = Files.walk(tmp.resolve("cluster/worker-0"))) {
            assertTrue(s.anyMatch(p -> p.getFileName().toString().equals(APP_JAR.getFileName().toString())), "the executor fetched the application jar");
        }
    }

    @Test
    @Order(2)
    void anExecutorKilledMidRunIsReplacedAndTheRunEqualsTheUninterruptedOne() throws Exception {
        Path out = tmp.resolve("executor-killed");
        Process driver = driver(train(out), "executor-killed");
        awaitSteps(driver, out, 2);
        List<ProcessHandle> executors = cluster.executors();
        assertFalse(executors.isEmpty(), "an executor JVM is running");
        for (ProcessHandle h : executors) h.destroyForcibly(); // SIGKILL, mid-step
        Result r = run(driver, 300);
        assertEquals(0, r.code(), r.log());
        assertEquals(single, deterministic(out));
        assertArrayEquals(singleAdapter, adapter(out, STEPS));
        assertFalse(cluster.executors().stream().anyMatch(executors::contains), "the killed executor is gone");
    }

    @Test
    @Order(3)
    void aDriverKilledMidRunResumesFromItsLastCheckpoint() throws Exception {
        Path out = tmp.resolve("driver-killed");
        Process driver = driver(train(out), "driver-killed");
        awaitSteps(driver, out, 3); // checkpoint-2 written, step 4 under way
        driver.destroyForcibly();
        driver.waitFor(30, TimeUnit.SECONDS);
        Result r = run(driver(train(out, "--resume"), "driver-resumed"), 300);
        assertEquals(0, r.code(), r.log());
        assertEquals(single, deterministic(out));
        assertArrayEquals(singleAdapter, adapter(out, STEPS));
    }

    @Test
    @Order(4)
    void evalOnTheClusterWritesTheSameSamplesAndReportAndResumes() throws Exception {
        Path local = tmp.resolve("eval-local"), spark = tmp.resolve("eval-cluster");
        Result a = run(driver(eval(local), "eval-local"), 300);
        assertEquals(0, a.code(), a.log());
        // interrupted after its first samples, then run again: it resumes
        Process first = driver(eval(spark, "--spark", cluster.masterUrl()), "eval-cluster");
        long deadline = System.nanoTime() + 240_000_000_000L;
        while (sampleLines(spark) == 0 && first.isAlive() && System.nanoTime() < deadline) Thread.sleep(50);
        assertTrue(first.isAlive(), "the first run is stopped before it ends:\n" + Files.readString(LOGS.get(first.pid())));
        first.destroyForcibly();
        first.waitFor(30, TimeUnit.SECONDS);
        Result b = run(driver(eval(spark, "--spark", cluster.masterUrl()), "eval-cluster-resumed"), 300);
        assertEquals(0, b.code(), b.log());
        assertTrue(shippedFolders().stream().anyMatch(p -> Files.isRegularFile(p.resolve("model.safetensors"))), "shipped model in " + cache);
        assertEquals(SparkEvalTest.samples(local), SparkEvalTest.samples(spark));
        assertEquals(SparkEvalTest.scores(local), SparkEvalTest.scores(spark));
    }

    @Test
    @Order(5)
    void sparkSubmitOfTheApplicationJarRunsATrain() throws Exception {
        Path out = tmp.resolve("submitted");
        List<String> cmd = javaCommand();
        cmd.addAll(List.of("org.apache.spark.deploy.SparkSubmit", "--master", cluster.masterUrl(), "--class", "dev.tina.tools.TinaCommand",
                "--conf", "spark.executor.memory=2g", "--conf", "spark.executorEnv.TINA_CACHE=" + cache, "--conf", "spark.tina.shipModel=true",
                APP_JAR.toString(), "train", "--recipe", recipe.toString(), "--out", out.toString(), "--rollout-slices", "2", "--max-steps", "2"));
        Result r = run(start(cmd, "submitted"), 300);
        assertEquals(0, r.code(), r.log());
        List<JsonNode> m = metrics(out);
        assertEquals(2, m.size(), r.log());
        for (JsonNode step : m) assertEquals(2, step.path("spark_tasks").asInt(), "no --spark: spark-submit's master is used; " + step);
        // the export came through Spark: assembled once in the executors' cache, named by its fingerprint
        assertTrue(shippedFolders().stream().anyMatch(p -> Files.isRegularFile(p.resolve("model.onnx.data"))), "shipped export in " + cache);
    }

    @Test
    @Order(6)
    void executorsRunningAnotherBuildFailInOneLineNamingBoth() throws Exception {
        // a cluster whose own class path holds another tina build, ahead of the application jar (as a jar in SPARK_HOME/jars
        // would be); spark.jars cannot stand in for it: executors add those jars in no fixed order
        Path other = tmp.resolve("other-build.jar");
        Files.copy(APP_JAR, other, StandardCopyOption.REPLACE_EXISTING);
        try (FileSystem z = FileSystems.newFileSystem(URI.create("jar:" + other.toUri()), Map.of())) {
            Files.writeString(z.getPath("dev/tina/export/version.properties"), "version=0.0.1-other\nbuild=19990101-000000\n");
        }
        Path out = tmp.resolve("other-build");
        long t0 = System.nanoTime();
        Result r = run(driver(train(out, "--max-steps", "1", "--spark-conf", "spark.executor.extraClassPath=" + other), "other-build"), 300);
        assertEquals(1, r.code(), r.log());
        String line = errorLine(r);
        assertTrue(line.contains("runs tina 0.0.1-other (build 19990101-000000)") && line.contains("but the driver runs tina")
                && line.contains("executor"), line);
        assertTrue((System.nanoTime() - t0) / 1e9 < 120, "bounded");
    }

    @Test
    @Order(7)
    void executorsThatCannotLoadTheNativesFailInOneLine() throws Exception {
        Path out = tmp.resolve("no-natives");
        Result r = run(driver(train(out, "--max-steps", "1", "--spark-conf", "spark.executor.extraJavaOptions=-Donnxruntime.native.path=/nonexistent"),
                "no-natives"), 300);
        assertEquals(1, r.code(), r.log());
        String line = errorLine(r);
        assertTrue(line.contains("ONNX Runtime") && line.contains("executor"), line);
    }

    @Test
    @Order(8)
    void aWorkerLostForGoodFailsTheRunInBoundedTimeAndResumeContinues() throws Exception {
        Path out = tmp.resolve("worker-lost");
        Process driver = driver(train(out, "--spark-conf", "spark.tina.executorWaitSeconds=8"), "worker-lost");
        awaitSteps(driver, out, 3);
        long t0 = System.nanoTime();
        cluster.killWorker(0);
        Result r = run(driver, 120);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(1, r.code(), r.log());
        assertTrue(errorLine(r).contains("no executor for 8 s"), r.log());
        assertTrue(seconds < 60, "failed after " + seconds + " s");
        // nothing half-written: every checkpoint complete, the metrics a prefix of the uninterrupted run's
        List<JsonNode> partial = deterministic(out);
        assertEquals(single.subList(0, partial.size()), partial);
        try (Stream<Path> s = Files.list(out)) {
            for (Path p : s.filter(p -> p.getFileName().toString().startsWith("checkpoint-")).toList()) {
                assertTrue(Files.isRegularFile(p.resolve("adapter/adapter_model.safetensors")), p + " complete");
            }
        }
        try (Stream<Path> s = Files.list(out)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".")), "no temporary folder left");
        }
        cluster.addWorker();
        Result resumed = run(driver(train(out, "--resume"), "worker-lost-resumed"), 300);
        assertEquals(0, resumed.code(), resumed.log());
        assertEquals(single, deterministic(out));
        assertArrayEquals(singleAdapter, adapter(out, STEPS));
    }

    // ---- drivers as separate processes

    record Result(int code, String log) {}

    static List<String> train(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--recipe", recipe.toString(), "--out", out.toString(), "--rollout-slices", "2",
                "--spark", cluster.masterUrl(), "--spark-conf", "spark.executor.memory=2g", "--spark-conf", "spark.executorEnv.TINA_CACHE=" + cache));
        a.addAll(Arrays.asList(extra));
        return a;
    }

    static List<String> eval(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("eval", "--model", evalModel.toString(), "--benchmarks", "arith",
                "--custom", "arith=" + data + ",problem=problem,answer=answer", "--limit", "48", "--n-samples", "2", "--max-new-tokens", "24",
                "--batch-rows", "4", "--seed", "5", "--out", out.toString()));
        a.addAll(Arrays.asList(extra));
        if (a.contains("--spark")) {
            a.addAll(List.of("--spark-conf", "spark.executor.memory=2g", "--spark-conf", "spark.executorEnv.TINA_CACHE=" + cache,
                    "--spark-conf", "spark.tina.shipModel=true")); // the model folder through Spark, not read at the driver's path
        }
        return a;
    }

    static List<String> javaCommand() {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx2g",
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "--add-modules", "jdk.incubator.vector",
                "-Dio.netty.tryReflectionSetAccessible=true", "-Dlog4j2.configurationFile=classpath:dev/tina/spark/log4j2.properties"));
        for (String p : StandaloneCluster.OPENS) cmd.add("--add-opens=java.base/" + p + "=ALL-UNNAMED");
        cmd.addAll(List.of("-cp", SPARK_HOME.resolve("jars") + "/*:" + APP_JAR));
        return cmd;
    }

    /** A driver started as ./tina starts one: Spark's jars first, then the application jar. */
    static Process driver(List<String> args, String name) throws IOException {
        List<String> cmd = javaCommand();
        cmd.add("dev.tina.tools.TinaCommand");
        cmd.addAll(args);
        return start(cmd, name);
    }

    static Process start(List<String> cmd, String name) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve(name + ".log").toFile());
        pb.environment().put("TINA_CACHE", cache.toString());
        pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        Process p = pb.start();
        DRIVERS.add(p.toHandle());
        LOGS.put(p.pid(), tmp.resolve(name + ".log"));
        return p;
    }

    static final Map<Long, Path> LOGS = new java.util.concurrent.ConcurrentHashMap<>();
    static final List<ProcessHandle> DRIVERS = new java.util.concurrent.CopyOnWriteArrayList<>();

    static Result run(Process p, int timeoutSeconds) throws Exception {
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("the driver did not end within " + timeoutSeconds + " s:\n" + Files.readString(LOGS.get(p.pid())));
        }
        return new Result(p.exitValue(), Files.readString(LOGS.get(p.pid())));
    }

    /** Waits until the run has logged {@code n} steps. */
    static void awaitSteps(Process driver, Path out, int n) throws Exception {
        long deadline = System.nanoTime() + 240_000_000_000L;
        while (true) {
            Path m = out.resolve("metrics.jsonl");
            if (Files.isRegularFile(m) && Files.readAllLines(m).size() >= n) return;
            if (!driver.isAlive()) fail("the driver ended before step " + n + ":\n" + Files.readString(LOGS.get(driver.pid())));
            if (System.nanoTime() > deadline) fail("no step " + n + " within 240 s");
            Thread.sleep(50);
        }
    }

    /** The command's one error line ("tina train: error: …"), which must be its only one. */
    static String errorLine(Result r) {
        List<String> lines = r.log().lines().filter(l -> l.startsWith("tina ") && l.contains(": error: ")).toList();
        assertEquals(1, lines.size(), r.log());
        assertFalse(r.log().contains("\tat "), "no stack trace:\n" + r.log());
        return lines.getFirst();
    }

    // ---- results

    static List<JsonNode> metrics(Path out) throws IOException {
        List<JsonNode> m = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) m.add(JSON.readTree(l));
        return m;
    }

    /** Metrics without wall-clock fields and without Spark's own (which a single-process run has not). */
    static List<JsonNode> deterministic(Path out) throws IOException {
        List<JsonNode> m = metrics(out);
        for (JsonNode n : m) {
            for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (GrpoTrainer.isWallClock(f) || f.startsWith("spark_")) it.remove();
            }
        }
        return m;
    }

    static byte[] adapter(Path out, int step) throws IOException {
        return Files.readAllBytes(out.resolve("checkpoint-" + step + "/adapter/adapter_model.safetensors"));
    }

    static List<Path> shippedFolders() throws IOException {
        Path dir = cache.resolve("shipped");
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }

    static int sampleLines(Path out) throws IOException {
        Path dir = out.resolve("samples");
        if (!Files.isDirectory(dir)) return 0;
        int n = 0;
        try (Stream<Path> s = Files.list(dir)) {
            for (Path f : s.toList()) n += Files.readAllLines(f).size();
        }
        return n;
    }
}
