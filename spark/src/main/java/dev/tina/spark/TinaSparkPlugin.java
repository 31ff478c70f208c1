package dev.tina.spark;

import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.api.plugin.SparkPlugin;

import java.util.Map;

/**
 * Set as {@code spark.plugins} by {@link SparkCluster#open}: each executor JVM runs
 * {@link ExecutorCheck} when it starts — before any task, so ONNX Runtime's training build is the
 * one installed, whichever class loader loaded tina — and keeps what it found for its tasks.
 */
public final class TinaSparkPlugin implements SparkPlugin {
    @Override
    public DriverPlugin driverPlugin() { return null; }

    @Override
    public ExecutorPlugin executorPlugin() {
        return new ExecutorPlugin() {
            @Override
            public void init(PluginContext ctx, Map<String, String> extraConf) {
                ExecutorCheck.run(ctx.conf().get(ExecutorCheck.DRIVER_BUILD, null));
            }
        };
    }
}
