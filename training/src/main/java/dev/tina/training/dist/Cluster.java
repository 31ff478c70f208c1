package dev.tina.training.dist;

import dev.tina.eval.run.Generator;
import dev.tina.training.grpo.StepRunner;

import java.io.Serial;
import java.io.Serializable;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * A cluster that training steps and evaluations can be spread over. The implementation lives in
 * the optional tina-spark module (Apache Spark), found through {@link ServiceLoader} so that the
 * core modules compile and run without Spark on the class path.
 */
public interface Cluster extends AutoCloseable {

    /** Runs each GRPO step's slices as tasks (the driver keeps the loop). */
    StepRunner.Factory steps();

    /** How many tasks the cluster runs at once by default: the rollout slices a step is cut into unless told otherwise. */
    int parallelism();

    /**
     * A generator whose completions come from the cluster's executors; {@code local} (the driver's
     * own, over the same model) answers rendering and length questions.
     */
    Generator generator(Generator local, EvalJob job);

    /** What an executor needs to make an evaluation's completions: paths as the executors see them. */
    record EvalJob(String model, String adapter, String device, long seed, double temperature, double topP, int maxNewTokens,
                   java.util.List<Long> eosTokenIds, boolean chat, String system, int rows) implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;

        public EvalJob {
            if (model == null) throw new IllegalArgumentException("eval job: model path is required");
            if (rows < 1) throw new IllegalArgumentException("eval job: rows must be >= 1");
            eosTokenIds = java.util.List.copyOf(eosTokenIds);
        }
    }

    @Override
    void close();

    /** Opens clusters of one kind (the tina-spark module registers one). */
    interface Provider {
        /** @param conf extra settings (Spark: {@code spark.*} keys) */
        Cluster open(String master, Map<String, String> conf) throws Exception;
    }

    /**
     * The master a command runs on: its {@code --spark} option, else the one {@code spark-submit}
     * gave the application it started (it sets the {@code spark.master} property), else none.
     */
    static String master(String option) {
        if (option != null && !option.isBlank()) return option;
        String submitted = System.getProperty("spark.master");
        return submitted == null || submitted.isBlank() ? null : submitted;
    }

    /** The cluster at {@code master}; a clear error when no implementation is on the class path. */
    static Cluster open(String master, Map<String, String> conf) throws Exception {
        Provider p = ServiceLoader.load(Provider.class).findFirst().orElseThrow(() -> new IllegalArgumentException(
                "--spark " + master + ": the tina-spark module is not on the class path (./tina adds it when --spark is given; "
                        + "with spark-submit, submit spark/target/tina-spark.jar)"));
        return p.open(master, conf);
    }
}
