package dev.tina.tools;

import dev.tina.training.dist.Cluster;
import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Map;

/** {@code --spark MASTER} and {@code --spark-conf KEY=VALUE} of the commands that can run on Apache Spark. */
final class SparkOptions {
    @Option(names = "--spark", paramLabel = "MASTER", description = "run on Apache Spark executors: local[N], spark://host:port, k8s://…; executors read the model and adapters at the same paths (or receive them: spark.tina.shipModel=true); ./tina adds "
            + "the tina-spark module to the class path when this is given; without it, a command started by spark-submit uses spark-submit's master (docs/spark.md)")
    String master;

    @Option(names = "--spark-conf", paramLabel = "KEY=VALUE", description = "a Spark setting (spark.executor.memory=8g, …); repeatable")
    Map<String, String> conf = new LinkedHashMap<>();

    /** The cluster to run on, or null to run in this process. */
    Cluster openOrNull() throws Exception {
        String m = Cluster.master(master);
        return m == null ? null : Cluster.open(m, conf);
    }
}
