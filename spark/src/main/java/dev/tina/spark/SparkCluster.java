package dev.tina.spark;

import dev.tina.eval.run.Generator;
import dev.tina.training.dist.Cluster;
import dev.tina.training.grpo.StepRunner;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.util.Map;

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

    public static SparkCluster open(String master, Map<String, String> conf) {
        checkReachable(master);
        SparkConf c = new SparkConf().setAppName("tina").setMaster(master)
                .set("spark.ui.enabled", "false")
                // results are a few MB of gradients per task; the default 1 GiB cap is kept, named here to be found
                .set("spark.driver.maxResultSize", "1g");
        conf.forEach(c::set);
        try {
            return new SparkCluster(new JavaSparkContext(c));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("--spark " + master + ": cannot start a Spark context: " + rootMessage(e), e);
        }
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
        return (recipe, local) -> new SparkStepRunner(jsc, recipe, local);
    }

    @Override
    public Generator generator(Generator local, EvalJob job) {
        return new SparkGenerator(jsc, local, job);
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
            if (local) ExecutorWorkers.closeAll(); // the "executors" were this JVM
        }
    }
}
