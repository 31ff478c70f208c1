package dev.tina.spark.standalone;

import dev.tina.tools.PluginCommand;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code tina spark-cluster}: a Spark standalone cluster on this machine, until interrupted. */
@Command(name = "spark-cluster", mixinStandardHelpOptions = true,
        description = "Start a Spark standalone cluster on 127.0.0.1 (a master and N workers, separate JVMs that fork executor JVMs) "
                + "and keep it up until Ctrl-C; prints the master URL to pass to --spark.")
public final class SparkClusterCommand implements Callable<Integer>, PluginCommand {
    @Option(names = "--workers", defaultValue = "1", description = "workers; default ${DEFAULT-VALUE}") int workers;
    @Option(names = "--cores", defaultValue = "2", description = "cores each worker offers; default ${DEFAULT-VALUE}") int cores;
    @Option(names = "--memory", defaultValue = "4g", description = "memory each worker offers to executors; default ${DEFAULT-VALUE}") String memory;
    @Option(names = "--spark-home", description = "Spark's jars/ and RELEASE: default $SPARK_HOME, else the Spark 4.2.0 home this build "
            + "assembled from Maven Central (spark/home/target/spark-home)") Path sparkHome;
    @Option(names = "--work-dir", defaultValue = "out/spark-cluster", description = "logs and executors' folders; default ${DEFAULT-VALUE}") Path workDir;

    @Override
    public Integer call() throws Exception {
        Path home = sparkHome != null ? sparkHome : defaultSparkHome();
        var o = new StandaloneCluster.Options(home, workers, cores, memory, workDir.toAbsolutePath(), Duration.ofSeconds(90));
        try (StandaloneCluster c = StandaloneCluster.start(o)) {
            System.out.println("master: " + c.masterUrl());
            System.out.println("web UI: " + c.webUi() + "   logs: " + c.logs());
            System.out.println("e.g. ./tina train --recipe RECIPE --spark " + c.masterUrl() + "   (Ctrl-C stops the cluster)");
            System.out.flush();
            new CountDownLatch(1).await(); // until interrupted: the shutdown hook stops the cluster
        }
        return 0;
    }

    /** $SPARK_HOME, else the home assembled beside the application jar ({@code spark/home/target/spark-home}). */
    public static Path defaultSparkHome() {
        String env = System.getenv("SPARK_HOME");
        if (env != null && !env.isBlank()) return Path.of(env);
        try {
            Path jar = Path.of(SparkClusterCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            Path home = jar.getParent().resolveSibling("home").resolve("target/spark-home"); // spark/target/x.jar → spark/home/target/spark-home
            if (Files.isDirectory(home)) return home;
        } catch (Exception e) {
            // fall through to the error below
        }
        throw new IllegalArgumentException("no Spark home: set SPARK_HOME or --spark-home (mvn install assembles one in spark/home/target/spark-home)");
    }
}
