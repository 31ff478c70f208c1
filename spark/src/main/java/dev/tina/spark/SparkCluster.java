package dev.tina.spark;

import dev.tina.eval.run.Generator;
import dev.tina.export.ToolVersion;
import dev.tina.training.dist.Cluster;
import dev.tina.training.dist.ClusterException;
import dev.tina.training.grpo.GrpoRecipe;
import dev.tina.training.grpo.StepRunner;
import dev.tina.training.grpo.StepWorker;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaFutureAction;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Apache Spark as a {@link Cluster}: one {@link JavaSparkContext} for the run, GRPO steps as
 * {@link SparkStepRunner} jobs and evaluations through {@link SparkGenerator}. Owns the context
 * (closing it stops it) and, in local mode, the executor-side workers that live in this JVM.
 */
public final class SparkCluster implements Cluster {
    /** How long a standalone or Kubernetes master gets to accept a TCP connection before we give up. */
    static final int CONNECT_TIMEOUT_MS = 5_000;

    static {
        configureLogging();
    }

    private final JavaSparkContext jsc;
    private final boolean local;

    SparkCluster(JavaSparkContext jsc) {
        this.jsc = jsc;
        this.local = jsc.master().startsWith("local");
    }

    public JavaSparkContext context() { return jsc; }

    /**
     * Spark needs log4j-core as the log4j backend; the grader (Symja) picks log4j's simple one if it
     * loads first, and Spark then fails casting its loggers. Call before anything logs.
     */
    public static void configureLogging() {
        System.getProperties().putIfAbsent("log4j2.loggerContextFactory", "org.apache.logging.log4j.core.impl.Log4jContextFactory");
        System.getProperties().putIfAbsent("log4j2.configurationFile", "classpath:dev/tina/spark/log4j2.properties");
    }

    /** Registered through META-INF/services. */
    public static final class Provider implements Cluster.Provider {
        @Override
        public Cluster open(String master, Map<String, String> conf) {
            return SparkCluster.open(master, conf);
        }
    }

    /** How long a job may go without any executor before it is cancelled (seconds; the cluster lost its workers). */
    static final String EXECUTOR_WAIT = "spark.tina.executorWaitSeconds";
    static final int DEFAULT_EXECUTOR_WAIT_SECONDS = 180;
    /** Options every executor JVM needs for ONNX Runtime and the tokenizer's natives (Spark adds its own --add-opens). */
    static final String EXECUTOR_JAVA_OPTIONS = "--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow --add-modules jdk.incubator.vector";

    public static SparkCluster open(String master, Map<String, String> conf) {
        checkReachable(master);
        boolean local = master.startsWith("local");
        // loads spark.* system properties too: under spark-submit its --master, spark.jars and --conf settings
        SparkConf c = new SparkConf().setAppName("tina").setMaster(master)
                .set("spark.ui.enabled", "false")
                // results are a few MB of gradients per task; the default 1 GiB cap is kept, named here to be found
                .set("spark.driver.maxResultSize", "1g");
        conf.forEach(c::set);
        c.set(ExecutorCheck.DRIVER_BUILD, ToolVersion.full());
        append(c, "spark.plugins", TinaSparkPlugin.class.getName(), ",");
        append(c, "spark.executor.extraJavaOptions", EXECUTOR_JAVA_OPTIONS, " ");
        if (!local) {
            // executors get the whole application from one jar, whatever class path the driver was started with
            Path jar = AppJar.locate(c.get(AppJar.SETTING, System.getProperty(AppJar.SETTING))).orElseThrow(() -> new IllegalArgumentException(
                    "--spark " + master + ": executors need tina's application jar (spark/target/tina-spark-app.jar, built by mvn install), "
                            + "and this driver was not started from it; start it with ./tina, spark-submit, or set " + AppJar.SETTING));
            if (!AppJar.isApplicationJar(jar)) {
                throw new IllegalArgumentException("--spark " + master + ": " + jar + " is not tina's application jar (tina-spark-app.jar, "
                        + "with the libraries Spark also ships relocated); executors would run with Spark's versions of them");
            }
            // spark-submit lists the application jar already (as a path); a second URI of the same file would be refused
            boolean listed = java.util.Arrays.stream(c.get("spark.jars", "").split(",")).map(String::trim).filter(s -> !s.isEmpty())
                    .anyMatch(s -> s.equals(jar.toString()) || s.equals(jar.toUri().toString()) || s.endsWith(":" + jar));
            if (!listed) append(c, "spark.jars", jar.toUri().toString(), ",");
        }
        JavaSparkContext jsc;
        try {
            jsc = new JavaSparkContext(c);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("--spark " + master + ": cannot start a Spark context: " + rootMessage(e), e);
        }
        SparkCluster cluster = new SparkCluster(jsc);
        if (!local) {
            try {
                cluster.awaitExecutors();
            } catch (RuntimeException e) {
                cluster.close();
                throw e;
            } catch (InterruptedException e) {
                cluster.close();
                Thread.currentThread().interrupt();
                throw new ClusterException("--spark " + master + ": interrupted while waiting for executors", e);
            }
        }
        return cluster;
    }

    /** Adds {@code value} to a list setting unless it is there already. */
    static void append(SparkConf c, String key, String value, String sep) {
        String now = c.get(key, "").trim();
        if (now.isEmpty()) c.set(key, value);
        else if (!java.util.Arrays.asList(now.split(sep.equals(" ") ? "\\s+" : sep)).contains(value)) c.set(key, now + sep + value);
    }

    static int executorWaitSeconds(JavaSparkContext jsc) { return jsc.getConf().getInt(EXECUTOR_WAIT, DEFAULT_EXECUTOR_WAIT_SECONDS); }

    /** Executors registered now (the status tracker lists the driver too); local mode's driver is its executor. */
    static int executors(JavaSparkContext jsc) {
        return jsc.master().startsWith("local") ? 1 : Math.max(0, jsc.sc().statusTracker().getExecutorInfos().length - 1);
    }

    /** Waits for the first executor, so that the default parallelism counts real cores; one line when none comes. */
    void awaitExecutors() throws InterruptedException {
        int wait = executorWaitSeconds(jsc);
        long deadline = System.nanoTime() + wait * 1_000_000_000L;
        while (executors(jsc) == 0) {
            if (System.nanoTime() > deadline) {
                throw new ClusterException("--spark " + jsc.master() + ": no executor registered within " + wait
                        + " s (no worker with free cores and memory for spark.executor.memory, or workers that cannot start "
                        + "executors: see the worker's logs; " + EXECUTOR_WAIT + " sets the wait)", null);
            }
            Thread.sleep(200);
        }
    }

    /**
     * Runs a job and waits for it, cancelling it when the cluster has had no executor for
     * {@link #EXECUTOR_WAIT} seconds: Spark itself would wait for resources forever once every
     * worker is gone. {@code what} names the job in the one-line error.
     */
    static <T> List<T> collect(JavaSparkContext jsc, JavaRDD<T> rdd, String what) {
        JavaFutureAction<List<T>> f = rdd.collectAsync();
        int wait = executorWaitSeconds(jsc);
        long noneSince = -1;
        while (true) {
            try {
                return f.get(250, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                int n = executors(jsc);
                long now = System.nanoTime();
                if (n > 0) noneSince = -1;
                else if (noneSince < 0) noneSince = now;
                else if (now - noneSince > wait * 1_000_000_000L) {
                    f.cancel(true);
                    throw new ClusterException(what + " failed: the Spark cluster has had no executor for " + wait
                            + " s (its workers are gone or cannot start executors); " + EXECUTOR_WAIT + " sets the wait", null);
                }
            } catch (InterruptedException e) {
                f.cancel(true);
                Thread.currentThread().interrupt();
                throw new IllegalStateException(what + " interrupted", e);
            } catch (ExecutionException e) {
                throw new ClusterException(what + " failed: " + taskMessage(e.getCause() == null ? e : e.getCause()), e);
            }
        }
    }

    /**
     * One line for a failed job: Spark's abort message carries the task's exception and its remote
     * stack trace as text; the line that names the task's own error is kept.
     */
    static String taskMessage(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        String first = nl < 0 ? m : m.substring(0, nl);
        // "Job aborted due to stage failure: Task 1 in stage 0.0 failed 4 times, most recent failure: Lost task … (… executor 0): java.lang.X: message"
        int at = first.indexOf("): ");
        if (first.startsWith("Job aborted") && at > 0) {
            String cause = first.substring(at + 3);
            int colon = cause.indexOf(": ");
            if (colon > 0 && cause.substring(0, colon).matches("[\\w.$]+")) cause = cause.substring(colon + 2);
            return cause + " [" + first.substring(0, at + 1) + "]";
        }
        return first;
    }


    /**
     * Fails in seconds when a standalone ({@code spark://host:port}) or Kubernetes
     * ({@code k8s://https://host:port}) master does not answer: Spark's own client retries for
     * minutes before it gives up.
     */
    static void checkReachable(String master) {
        if (master == null || master.isBlank()) throw new IllegalArgumentException("--spark: a master URL is required (local[N], spark://host:port, k8s://…)");
        String hostPort;
        if (master.startsWith("spark://")) hostPort = master.substring("spark://".length()).split(",")[0];
        else if (master.startsWith("k8s://")) {
            String u = master.substring("k8s://".length());
            URI uri = URI.create(u.contains("://") ? u : "https://" + u);
            hostPort = uri.getHost() + ":" + (uri.getPort() > 0 ? uri.getPort() : 443);
        } else return; // local[…], yarn: Spark checks these itself
        int colon = hostPort.lastIndexOf(':');
        if (colon < 0) throw new IllegalArgumentException("--spark " + master + ": expected host:port after the scheme");
        String host = hostPort.substring(0, colon);
        int port;
        try {
            port = Integer.parseInt(hostPort.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--spark " + master + ": port '" + hostPort.substring(colon + 1) + "' is not a number");
        }
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), CONNECT_TIMEOUT_MS);
        } catch (IOException e) {
            throw new IllegalArgumentException("--spark " + master + ": the Spark master at " + host + ":" + port + " is unreachable (" + e.getMessage()
                    + "); check the URL and that the master is running");
        }
    }

    @Override
    public int parallelism() { return jsc.defaultParallelism(); }

    @Override
    public StepRunner.Factory steps() {
        return new StepRunner.Factory() {
            @Override
            public StepRunner open(GrpoRecipe recipe, StepWorker local) throws Exception {
                return new SparkStepRunner(jsc, recipe, local);
            }

            @Override
            public boolean runsHere() { return false; } // the executors sample, score and compute gradients
        };
    }

    @Override
    public Generator generator(Generator local, EvalJob job) {
        ShippedFolder model = null, adapter = null;
        if (jsc.getConf().getBoolean(ShippedFolder.SETTING, false)) {
            try {
                model = ShippedFolder.ship(jsc, Path.of(job.model()));
                if (job.adapter() != null) adapter = ShippedFolder.ship(jsc, Path.of(job.adapter()));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot ship " + job.model() + " to the executors: " + e.getMessage(), e);
            }
        }
        return new SparkGenerator(jsc, local, job, model, adapter);
    }

    static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) t = t.getCause();
        return t == e ? String.valueOf(e.getMessage()) : e.getMessage() + " (cause: " + t + ")";
    }

    @Override
    public void close() {
        try {
            jsc.stop();
        } finally {
            ShippedFolder.removeStaging();
            if (local) ExecutorWorkers.closeAll(); // the "executors" were this JVM
        }
    }
}
