package dev.tina.spark;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.ToolVersion;
import dev.tina.training.grpo.GrpoRecipe;
import dev.tina.training.grpo.SliceResult;
import dev.tina.training.grpo.StepPlan;
import dev.tina.training.grpo.StepRunner;
import dev.tina.training.grpo.StepWorker;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.resource.ResourceInformation;

import java.io.Serial;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GRPO step as one Spark job: the step's prompts cut into slices along whole groups and
 * micro-batches ({@link StepPlan#slices()}, as many as the trainer asks), one task per slice running {@link StepWorker#run} on an
 * executor-resident worker, results back to the driver, which sums gradients in micro-batch order.
 * The adapter travels as a broadcast named by its version (step + content hash); a task whose
 * broadcast names another version than its slice fails. Spark retries failed tasks; a retried
 * slice computes the same result (rollouts are a function of adapter version, prompts and seeds).
 *
 * <p>Costs are split in the step's metrics: {@code seconds_spark_broadcast} (driver-side
 * broadcast creation + the slowest task's fetch), {@code seconds_spark_serialisation} (result
 * serialisation in the task + deserialisation on the driver + task deserialisation, longest
 * task), {@code seconds_spark_scheduling} (the rest of the job's wall time beyond the slowest
 * task: queueing, launch, result transfer), and the bytes moved.
 */
final class SparkStepRunner implements StepRunner {
    /** Settings read from the Spark conf. */
    static final String EXECUTOR_MODEL = "spark.tina.executor.model",
            FAIL_FIRST_ATTEMPT = "spark.tina.test.failFirstAttemptOfPartition", DRIVER_VERSION = "spark.tina.test.driverVersion";

    private final JavaSparkContext jsc;
    private final String recipeJson;
    private final TaskSpec spec;

    SparkStepRunner(JavaSparkContext jsc, GrpoRecipe recipe, StepWorker local) throws Exception {
        if (local.rewards().size() != recipe.rewards().size()) {
            throw new IllegalArgumentException("--spark: rewards given as code cannot run on executors; list them in the recipe's reward_funcs");
        }
        this.jsc = jsc;
        var conf = jsc.getConf();
        // executors open the model at the driver's absolute path unless told another
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("model_name_or_path", conf.contains(EXECUTOR_MODEL) ? conf.get(EXECUTOR_MODEL)
                : java.nio.file.Path.of(recipe.modelNameOrPath()).toAbsolutePath().toString());
        GrpoRecipe forExecutors = recipe.with(o);
        this.recipeJson = new ObjectMapper().setSerializationInclusion(JsonInclude.Include.NON_NULL).writeValueAsString(forExecutors);
        ShippedFolder shipped = null;
        if (conf.getBoolean(ShippedFolder.SETTING, false)) {
            if (conf.contains(EXECUTOR_MODEL)) throw new IllegalArgumentException(ShippedFolder.SETTING + " and " + EXECUTOR_MODEL + ": set one of them");
            shipped = ShippedFolder.ship(jsc, local.exportDir()); // the driver's export: executors need not export it again
        }
        this.spec = new TaskSpec(recipeJson, conf.get(DRIVER_VERSION, ToolVersion.full()), conf.getInt(FAIL_FIRST_ATTEMPT, -1), shipped);
    }

    /** The adapter as broadcast: its version names it. */
    record Adapter(String version, long step, LinkedHashMap<String, float[]> weights) implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
    }

    /** What every task of the run carries besides its slice. */
    record TaskSpec(String recipeJson, String driverVersion, int failFirstAttemptOfPartition, ShippedFolder model) implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
    }

    /** A task's answer: the slice result as bytes, and where its time went. */
    record TaskOutput(byte[] result, double fetchSeconds, double workSeconds, double serialiseSeconds, double taskDeserialiseSeconds,
                      String executor) implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
    }

    @Override
    public Results run(StepPlan plan, Map<String, float[]> weights) throws Exception {
        long t0 = System.nanoTime();
        LinkedHashMap<String, float[]> copy = new LinkedHashMap<>();
        long adapterBytes = 0;
        for (var e : weights.entrySet()) {
            copy.put(e.getKey(), e.getValue().clone());
            adapterBytes += 4L * e.getValue().length;
        }
        Broadcast<Adapter> adapter = jsc.broadcast(new Adapter(plan.adapterVersion(), plan.step(), copy));
        long t1 = System.nanoTime();
        List<StepPlan.Slice> parts = plan.slices(); // one task each
        TaskSpec s = spec;
        List<TaskOutput> outs;
        jsc.setJobGroup("tina-step-" + (plan.step() + 1), "GRPO step " + (plan.step() + 1) + " (" + parts.size() + " slices)", true);
        try {
            outs = SparkCluster.collect(jsc, jsc.parallelize(parts, parts.size()).map(slice -> runTask(s, adapter, slice)),
                    "Spark job of step " + (plan.step() + 1));
        } finally {
            jsc.clearJobGroup();
            adapter.destroy(); // every executor drops this version's blocks
        }
        long t2 = System.nanoTime();
        List<SliceResult> results = new ArrayList<>(outs.size());
        long resultBytes = 0;
        double maxTask = 0, maxFetch = 0, maxSer = 0;
        for (TaskOutput o : outs) {
            results.add(Wire.read(o.result(), SliceResult.class));
            resultBytes += o.result().length;
            maxTask = Math.max(maxTask, o.fetchSeconds() + o.workSeconds() + o.serialiseSeconds() + o.taskDeserialiseSeconds());
            maxFetch = Math.max(maxFetch, o.fetchSeconds());
            maxSer = Math.max(maxSer, o.serialiseSeconds() + o.taskDeserialiseSeconds());
        }
        long t3 = System.nanoTime();
        double job = (t2 - t1) / 1e9, driverBroadcast = (t1 - t0) / 1e9, driverDeserialise = (t3 - t2) / 1e9;
        Map<String, Number> overhead = new LinkedHashMap<>();
        overhead.put("seconds_spark_job", job);
        overhead.put("seconds_spark_broadcast", driverBroadcast + maxFetch);
        overhead.put("seconds_spark_serialisation", maxSer + driverDeserialise);
        overhead.put("seconds_spark_scheduling", Math.max(0, job - maxTask));
        overhead.put("spark_tasks", (long) outs.size());
        overhead.put("spark_broadcast_bytes", adapterBytes);
        overhead.put("spark_result_bytes", resultBytes);
        return new Results(results, overhead);
    }

    /** On an executor: checks, then the slice on this JVM's worker for the recipe. */
    static TaskOutput runTask(TaskSpec spec, Broadcast<Adapter> broadcast, StepPlan.Slice slice) throws Exception {
        ExecutorCheck.require(spec.driverVersion());
        TaskContext ctx = TaskContext.get();
        checkGpu(ctx);
        long t0 = System.nanoTime();
        Adapter a = broadcast.value();
        long t1 = System.nanoTime();
        if (!a.version().equals(slice.adapterVersion())) {
            throw new IllegalStateException(ExecutorWorkers.where() + ": the broadcast adapter is " + a.version() + " but the slice of step "
                    + (slice.step() + 1) + " needs " + slice.adapterVersion() + " (a stale broadcast)");
        }
        String recipeJson = spec.recipeJson();
        if (spec.model() != null) { // shipped through Spark: this host's copy
            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("model_name_or_path", spec.model().fetch().toString());
            recipeJson = new ObjectMapper().setSerializationInclusion(JsonInclude.Include.NON_NULL)
                    .writeValueAsString(GrpoRecipe.parse(recipeJson, "recipe from the driver").with(o));
        }
        SliceResult r = ExecutorWorkers.withStepWorker(recipeJson, w -> w.run(slice, a.weights()));
        long t2 = System.nanoTime();
        if (ctx != null && ctx.partitionId() == spec.failFirstAttemptOfPartition() && ctx.attemptNumber() == 0) {
            // test hook: the work is done, and the attempt dies anyway; Spark must retry and get the same result
            throw new IllegalStateException("injected failure of partition " + ctx.partitionId() + ", attempt 0");
        }
        byte[] bytes = Wire.write(r);
        long t3 = System.nanoTime();
        double taskDeser = ctx == null ? 0 : ctx.taskMetrics().executorDeserializeTime() / 1e3;
        return new TaskOutput(bytes, (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9, taskDeser, ExecutorWorkers.where());
    }

    /**
     * One task per GPU: with Spark's resource scheduling ({@code spark.task.resource.gpu.amount=1})
     * a task is given one address; the executor must see exactly that GPU as its CUDA device 0
     * (one GPU per executor, or CUDA_VISIBLE_DEVICES set by the cluster), which is what ONNX
     * Runtime's CUDA provider opens.
     */
    static void checkGpu(TaskContext ctx) {
        if (ctx == null) return;
        ResourceInformation gpu = ctx.resources().get("gpu").getOrElse(() -> null);
        if (gpu != null && gpu.addresses().length > 1) {
            throw new IllegalStateException(ExecutorWorkers.where() + ": this task was given " + gpu.addresses().length
                    + " GPUs; tina runs one task per GPU (spark.task.resource.gpu.amount=1)");
        }
    }
}
