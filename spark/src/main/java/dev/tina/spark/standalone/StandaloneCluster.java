package dev.tina.spark.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A Spark standalone cluster on this machine: a master and N workers, each its own JVM on
 * 127.0.0.1 with free ports, the workers forking real executor JVMs for each application. What a
 * user's cluster does to an application (its classes reach executors only through spark.jars,
 * Spark's jars come first, natives load under Spark's class loaders, an executor can die) happens
 * here too, which local mode ({@code local[N]}, one JVM) cannot show.
 *
 * <p>Owns its processes: {@link #close()} kills every one of them and their children (executors),
 * and a shutdown hook does the same if the owner never closes it.
 */
public final class StandaloneCluster implements AutoCloseable {
    /** The java.base packages Spark's launcher opens (its JavaModuleOptions). */
    public static final List<String> OPENS = List.of("java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net", "java.nio",
            "java.util", "java.util.concurrent", "java.util.concurrent.atomic", "jdk.internal.ref", "sun.nio.ch", "sun.nio.cs", "sun.util.calendar");
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param sparkHome a folder with {@code jars/} (Spark and its libraries) and a {@code RELEASE} file
     * @param workDir   logs and the workers' application folders
     */
    public record Options(Path sparkHome, int workers, int coresPerWorker, String memoryPerWorker, Path workDir, Duration startTimeout) {
        public Options {
            if (workers < 1) throw new IllegalArgumentException("workers must be >= 1, got " + workers);
            if (coresPerWorker < 1) throw new IllegalArgumentException("cores per worker must be >= 1, got " + coresPerWorker);
            if (!Files.isDirectory(sparkHome.resolve("jars"))) {
                throw new IllegalArgumentException(sparkHome + ": not a Spark home (no jars/ folder); mvn install assembles one in spark/home/target/spark-home");
            }
            if (!Files.isRegularFile(sparkHome.resolve("RELEASE"))) {
                // a worker without it cannot build an executor's command line ("Cannot find any build directories")
                throw new IllegalArgumentException(sparkHome + ": no RELEASE file (Spark's workers need it to start executors)");
            }
        }
    }

    private final Options options;
    private final int masterPort, masterUiPort;
    private final Process master;
    private final List<Process> workers = new ArrayList<>();
    private final Thread hook;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private volatile boolean closed;

    private StandaloneCluster(Options options) throws IOException {
        this.options = options;
        Files.createDirectories(options.workDir().resolve("logs"));
        this.masterPort = freePort();
        this.masterUiPort = freePort();
        this.hook = new Thread(this::killAll, "tina-standalone-cluster-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        this.master = launch("master", "org.apache.spark.deploy.master.Master", List.of("--host", "127.0.0.1", "--port", String.valueOf(masterPort),
                "--webui-port", String.valueOf(masterUiPort)));
    }

    /** Starts a master and the workers and waits until every worker has registered. */
    public static StandaloneCluster start(Options options) throws IOException, InterruptedException {
        StandaloneCluster c = new StandaloneCluster(options);
        try {
            for (int i = 0; i < options.workers(); i++) c.addWorker();
            c.awaitWorkers(options.workers(), options.startTimeout());
            return c;
        } catch (IOException | InterruptedException | RuntimeException e) {
            c.close();
            throw e;
        }
    }

    public String masterUrl() { return "spark://127.0.0.1:" + masterPort; }

    public String webUi() { return "http://127.0.0.1:" + masterUiPort; }

    public Path logs() { return options.workDir().resolve("logs"); }

    /** Starts one more worker (it registers with the master in a few seconds); returns its index. */
    public synchronized int addWorker() throws IOException {
        int i = workers.size();
        Path dir = options.workDir().resolve("worker-" + i);
        Files.createDirectories(dir);
        workers.add(launch("worker-" + i, "org.apache.spark.deploy.worker.Worker", List.of(masterUrl(), "--host", "127.0.0.1",
                "--cores", String.valueOf(options.coresPerWorker()), "--memory", options.memoryPerWorker(),
                "--webui-port", String.valueOf(freePort()), "--work-dir", dir.toString())));
        return i;
    }

    /** Waits until the master lists {@code n} live workers. */
    public void awaitWorkers(int n, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            int alive = state().map(s -> s.path("aliveworkers").asInt(0)).orElse(0);
            if (alive >= n) return;
            for (Process p : processes()) {
                if (!p.isAlive()) throw new IOException("a Spark process exited with status " + p.exitValue() + " while starting; logs in " + logs());
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("the Spark master listed " + alive + " of " + n + " workers after " + timeout.toSeconds() + " s; logs in " + logs());
            }
            Thread.sleep(250);
        }
    }

    /** The master's state ({@code /json/}: workers, applications), empty while it does not answer. */
    public Optional<JsonNode> state() {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(webUi() + "/json/")).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? Optional.of(JSON.readTree(r.body())) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    /** The executor JVMs the workers forked and that are alive now. */
    public List<ProcessHandle> executors() {
        List<ProcessHandle> out = new ArrayList<>();
        for (Process w : workers) {
            w.descendants().filter(ProcessHandle::isAlive)
                    .filter(h -> h.info().commandLine().orElse("").contains("CoarseGrainedExecutorBackend")).forEach(out::add);
        }
        return out;
    }

    /** SIGKILLs worker {@code i} and its executors: a machine lost for good. */
    public synchronized void killWorker(int i) {
        Process w = workers.get(i);
        w.descendants().forEach(ProcessHandle::destroyForcibly);
        w.destroyForcibly();
        waitFor(w.toHandle());
    }

    private List<Process> processes() {
        List<Process> all = new ArrayList<>(workers);
        all.add(master);
        return all;
    }

    private Process launch(String name, String mainClass, List<String> args) throws IOException {
        String javaHome = System.getProperty("java.home");
        List<String> cmd = new ArrayList<>(List.of(Path.of(javaHome, "bin", "java").toString(), "-Xmx512m", "-cp",
                options.sparkHome().resolve("jars") + "/*"));
        for (String p : OPENS) cmd.add("--add-opens=java.base/" + p + "=ALL-UNNAMED");
        cmd.add(mainClass);
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logs().resolve(name + ".log").toFile()));
        Map<String, String> env = pb.environment();
        env.put("SPARK_HOME", options.sparkHome().toAbsolutePath().toString());
        env.put("SPARK_SCALA_VERSION", "2.13"); // the worker builds executors' class paths from it
        env.put("SPARK_LOCAL_IP", "127.0.0.1");
        env.put("JAVA_HOME", javaHome); // executors run on the same Java as this cluster
        return pb.start();
    }

    private void killAll() {
        for (Process p : processes()) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        for (Process p : processes()) waitFor(p.toHandle());
    }

    private static void waitFor(ProcessHandle h) {
        try {
            h.onExit().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            // a process that outlives SIGKILL for 30 s is the kernel's business; nothing more to do here
        }
    }

    /** Kills the master, the workers and every executor they forked. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        killAll();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // already shutting down: the hook is running or ran
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

}
