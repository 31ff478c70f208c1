package dev.tina.spark;

import dev.tina.eval.run.Generated;
import dev.tina.eval.run.Generator;
import dev.tina.eval.run.SamplerGenerator;
import dev.tina.export.ToolVersion;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.training.dist.Cluster;
import org.apache.spark.api.java.JavaSparkContext;

import java.io.Serial;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Evaluation completions from Spark executors. A call's pending (problem, sample) pairs are cut, in
 * run order, into chunks of about {@link #BATCHES_PER_TASK} × {@code rows} samples, one task per chunk,
 * each decoded on its executor through the continuous {@link SamplerGenerator}; sample (i, s) keeps
 * its (seed, i, s) stream wherever it runs: the same completions as without Spark. Results come
 * back in rounds of a few tasks per executor core, handed to the caller (who writes the sample log
 * and the report) after each round, so an interrupted run resumes with little lost.
 */
final class SparkGenerator implements Generator {
    /** A task holds this many times the sampler's rows in samples, so its slots stay full until its tail. */
    static final int BATCHES_PER_TASK = 4;
    private final JavaSparkContext jsc;
    private final Generator local;
    private final Cluster.EvalJob job;

    private final ShippedFolder model, adapter;

    /** {@code model} and {@code adapter}: shipped through Spark, or null (executors read the job's paths). */
    SparkGenerator(JavaSparkContext jsc, Generator local, Cluster.EvalJob job, ShippedFolder model, ShippedFolder adapter) {
        this.jsc = jsc;
        this.local = local;
        this.job = job;
        this.model = model;
        this.adapter = adapter;
    }

    @Override
    public String render(String message) { return local.render(message); }

    @Override
    public int promptTokens(String message) { return local.promptTokens(message); }

    @Override
    public int contextLength() { return local.contextLength(); }

    /** Some pending samples of a call: run index, message and sample indices of each problem, in run order. */
    record Chunk(ArrayList<Integer> indices, ArrayList<String> messages, ArrayList<int[]> samples) implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
    }

    /** {@link Generated}, serialisable. */
    record Sample(int index, int sample, String text, int tokens, String finish) implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
    }

    @Override
    public void generate(List<String> messages, List<Pending> todo, int n, Consumer<Generated> onDone) throws Exception {
        List<Chunk> chunks = new ArrayList<>();
        long perTask = (long) BATCHES_PER_TASK * job.rows();
        Chunk chunk = null;
        long rows = 0;
        for (Pending p : todo) {
            if (chunk == null || rows >= perTask) {
                chunk = new Chunk(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
                chunks.add(chunk);
                rows = 0;
            }
            chunk.indices().add(p.index());
            chunk.messages().add(messages.get(p.index()));
            chunk.samples().add(p.samples());
            rows += p.samples().length;
        }
        int round = Math.max(1, 2 * jsc.defaultParallelism());
        Cluster.EvalJob j = job;
        ShippedFolder m = model, a = adapter;
        String version = ToolVersion.full();
        for (int r = 0; r < chunks.size(); r += round) {
            List<Chunk> batch = chunks.subList(r, Math.min(chunks.size(), r + round));
            List<List<Sample>> out;
            out = SparkCluster.collect(jsc, jsc.parallelize(batch, batch.size()).map(c -> runChunk(shipped(j, m, a), version, n, c)), "Spark evaluation job");
            for (List<Sample> samples : out) {
                for (Sample s : samples) onDone.accept(new Generated(s.index(), s.sample(), s.text(), s.tokens(), s.finish()));
            }
        }
    }

    /** On an executor: the job with this host's copies of what was shipped. */
    static Cluster.EvalJob shipped(Cluster.EvalJob j, ShippedFolder model, ShippedFolder adapter) throws java.io.IOException {
        if (model == null) return j;
        return new Cluster.EvalJob(model.fetch().toString(), adapter == null ? j.adapter() : adapter.fetch().toString(), j.device(), j.seed(),
                j.temperature(), j.topP(), j.maxNewTokens(), j.eosTokenIds(), j.chat(), j.system(), j.rows());
    }

    /** On an executor: the chunk through this JVM's model and sampler for the job. */
    static List<Sample> runChunk(Cluster.EvalJob job, String driverVersion, int n, Chunk chunk) throws Exception {
        ExecutorCheck.require(driverVersion);
        String key = "eval:" + job.model() + "|" + job.adapter() + "|" + job.device() + "|" + job.rows();
        return ExecutorWorkers.with(key, () -> EvalWorker.open(job), w -> {
            SamplingParams params = new SamplingParams(1, job.temperature(), job.topP(), 0, 0, job.maxNewTokens(), List.of(),
                    Set.copyOf(job.eosTokenIds()), job.seed());
            // not closed: the binding belongs to the cached worker
            SamplerGenerator g = new SamplerGenerator(w.model, w.sampler, w.adapter, params, job.chat(), job.system(), job.rows());
            Map<Integer, String> byIndex = new HashMap<>();
            List<Pending> todo = new ArrayList<>();
            for (int i = 0; i < chunk.indices().size(); i++) {
                byIndex.put(chunk.indices().get(i), chunk.messages().get(i));
                todo.add(new Pending(chunk.indices().get(i), chunk.samples().get(i)));
            }
            List<String> view = new AbstractList<>() { // run indices: only the chunk's are ever read
                @Override
                public String get(int i) {
                    String message = byIndex.get(i);
                    if (message == null) throw new IndexOutOfBoundsException("prompt " + i + " is not in this chunk");
                    return message;
                }

                @Override
                public int size() { return chunk.indices().getLast() + 1; }
            };
            List<Sample> out = new ArrayList<>();
            g.generate(view, todo, n, s -> out.add(new Sample(s.index(), s.sample(), s.text(), s.tokens(), s.finish())));
            return out;
        });
    }

    /** An executor's model, sampler and adapter binding for one evaluation job. */
    static final class EvalWorker implements AutoCloseable {
        final LoadedModel model;
        final BatchSampler sampler;
        final AdapterBinding adapter;

        private EvalWorker(LoadedModel model, BatchSampler sampler, AdapterBinding adapter) {
            this.model = model;
            this.sampler = sampler;
            this.adapter = adapter;
        }

        static EvalWorker open(Cluster.EvalJob job) throws Exception {
            LoadedModel m;
            try {
                m = LoadedModel.open(Path.of(job.model()), SessionSettings.of(SessionSettings.Device.parse(job.device())));
            } catch (Exception e) {
                throw new IllegalStateException(ExecutorWorkers.where() + ": cannot open the model '" + job.model() + "' for evaluation: "
                        + SparkCluster.rootMessage(e) + " (executors need the model folder at the same path as the driver)", e);
            }
            BatchSampler s = null;
            try {
                s = m.sampler(job.rows());
                AdapterBinding a = m.adapter(job.adapter() == null ? null : Path.of(job.adapter()));
                return new EvalWorker(m, s, a);
            } catch (Exception | Error e) {
                if (s != null) s.close();
                m.close();
                throw e;
            }
        }

        @Override
        public void close() throws Exception {
            try (model; sampler; adapter) {
                // closed in reverse: binding, sampler, model
            }
        }
    }

    @Override
    public void close() { local.close(); }
}
