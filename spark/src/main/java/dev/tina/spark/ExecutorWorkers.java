package dev.tina.spark;

import dev.tina.training.grpo.GrpoRecipe;
import dev.tina.training.grpo.StepWorker;
import org.apache.spark.SparkEnv;

import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * What an executor JVM keeps across tasks and steps: opened workers (model, sampler, ONNX Runtime
 * sessions), one per task running at once, keyed by what they were opened from. A task borrows
 * one and gives it back; nothing is reloaded between steps. Closed when the JVM exits (or, in
 * local mode, when the driver's cluster closes).
 */
final class ExecutorWorkers {
    @FunctionalInterface
    interface Work<W, T> {
        T apply(W worker) throws Exception;
    }

    @FunctionalInterface
    interface Opener<W> {
        W open() throws Exception;
    }

    private static final Map<String, Deque<AutoCloseable>> IDLE = new ConcurrentHashMap<>();
    private static final List<AutoCloseable> ALL = new ArrayList<>();
    private static final Object OPENING = new Object();
    private static volatile int opened;

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(ExecutorWorkers::closeAll, "tina-executor-workers"));
    }

    private ExecutorWorkers() {}

    /** Step workers for a recipe (its JSON is the key: another recipe gets other workers). */
    static <T> T withStepWorker(String recipeJson, Work<StepWorker, T> work) throws Exception {
        return with("grpo:" + recipeJson, () -> {
            GrpoRecipe recipe = GrpoRecipe.parse(recipeJson, "recipe from the driver");
            try {
                return StepWorker.open(recipe);
            } catch (Exception e) {
                throw new IllegalStateException(where() + ": cannot open the model '" + recipe.modelNameOrPath() + "' for training: "
                        + SparkCluster.rootMessage(e) + " (executors need the model folder at the same path as the driver, "
                        + "or set spark.tina.executor.model)", e);
            }
        }, work);
    }

    @SuppressWarnings("unchecked")
    static <W extends AutoCloseable, T> T with(String key, Opener<W> opener, Work<W, T> work) throws Exception {
        Deque<AutoCloseable> idle = IDLE.computeIfAbsent(key, k -> new ConcurrentLinkedDeque<>());
        W w = (W) idle.pollFirst();
        if (w == null) {
            // one at a time: concurrent first tasks would each build the same training graphs and map the model together
            synchronized (OPENING) {
                w = opener.open();
            }
            synchronized (ALL) {
                ALL.add(w);
            }
            opened++;
        }
        T result;
        try {
            result = work.apply(w);
        } catch (Exception | Error e) {
            // a worker whose task threw may hold a half-run session or sampler: closed, not handed to the next task
            synchronized (ALL) {
                ALL.remove(w);
            }
            try {
                w.close();
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        idle.addFirst(w);
        return result;
    }

    /** How many workers this JVM has opened so far (tests check that steps reuse them). */
    static int opened() { return opened; }

    /** "executor ID on HOST", for error messages. */
    static String where() {
        SparkEnv env = SparkEnv.get();
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            host = "?";
        }
        return "executor " + (env == null ? "?" : env.executorId()) + " on " + host;
    }

    static void closeAll() {
        List<AutoCloseable> all;
        synchronized (ALL) {
            all = new ArrayList<>(ALL);
            ALL.clear();
        }
        IDLE.clear();
        for (AutoCloseable w : all) {
            try {
                w.close();
            } catch (Exception e) {
                System.err.println("tina: closing an executor worker failed: " + e);
            }
        }
    }
}
