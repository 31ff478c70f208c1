package dev.tina.training.grpo;

import dev.tina.eval.grading.Grader;
import dev.tina.eval.run.SamplerGenerator;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.peft.LoraConfig;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.training.graph.Aggregation;
import dev.tina.training.graph.GrpoMicroBatch;
import dev.tina.training.ort.GradientEngine;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The part of a GRPO step that scales out: for a slice of the step's prompts, rollouts with the
 * given adapter → rewards → group advantages → per micro-batch, reference log-probs (adapter off)
 * and the gradient pass. A pure function of (recipe, adapter version, slice): the driver's
 * in-process runner and every Spark executor run this same code.
 *
 * <p>Does not own what it is given; {@link #open} makes a worker that owns everything (an executor's).
 */
public final class StepWorker implements AutoCloseable {
    private final GrpoRecipe recipe;
    private final LoadedModel model;
    private final BatchSampler sampler;
    private final GradientEngine gradients, reference;
    private final List<Reward> rewards;
    private final LoraConfig loraConfig;
    private final Aggregation aggregation;
    private final List<AutoCloseable> owned;

    public StepWorker(GrpoRecipe recipe, LoadedModel model, BatchSampler sampler, GradientEngine gradients, GradientEngine reference,
                      List<Reward> rewards) {
        this(recipe, model, sampler, gradients, reference, rewards, List.of());
    }

    private StepWorker(GrpoRecipe recipe, LoadedModel model, BatchSampler sampler, GradientEngine gradients, GradientEngine reference,
                       List<Reward> rewards, List<AutoCloseable> owned) {
        if (!SamplerGenerator.SEEDS_SHIFT) {
            throw new IllegalStateException("the sampler's per-sample streams no longer shift by seed (TokenSampler.streamFor changed): "
                    + "slices of a step cannot reproduce the whole step's rollouts");
        }
        this.recipe = recipe;
        this.model = model;
        this.sampler = sampler;
        this.gradients = gradients;
        this.reference = reference;
        this.rewards = List.copyOf(rewards);
        this.owned = owned;
        List<Projection> targets = recipe.targets().stream().map(Projection::fromModuleName).toList();
        this.loraConfig = LoraConfig.of(recipe.rank(), recipe.alpha(), 0.0, targets, Boolean.TRUE.equals(recipe.useRslora()));
        this.aggregation = Aggregation.parse(recipe.loss());
    }

    /**
     * A worker that owns its model, sampler, sessions and grader, opened from the recipe alone (as
     * the trainer opens its own; see {@link GrpoTrainer}): what an executor keeps for its lifetime.
     */
    public static StepWorker open(GrpoRecipe recipe) throws Exception {
        List<AutoCloseable> owned = new ArrayList<>();
        try {
            Grader grader = new Grader();
            owned.add(grader);
            grader.warmUp();
            List<Reward> rewards = new ArrayList<>();
            for (String r : recipe.rewards()) rewards.add(Reward.parse(r, grader));
            SessionSettings.Device device = recipe.deviceKind();
            LoadedModel model = LoadedModel.openShared(Path.of(recipe.modelNameOrPath()), SessionSettings.of(device));
            owned.addFirst(model); // closed last
            if (model.tokenizer().isEmpty()) {
                throw new IllegalArgumentException(model.exportDir() + ": GRPO needs the model's tokenizer.json (rewards read text)");
            }
            LoadedModel quantized = GrpoTrainer.quantizedRollouts(recipe, model);
            if (quantized != null) owned.add(1, quantized); // closed in reverse: after its sampler, before the model
            BatchSampler sampler = (quantized != null ? quantized : model).sampler(64);
            owned.add(quantized != null ? 2 : 1, sampler);
            GrpoEngines engines = GrpoEngines.open(recipe, model); // as the trainer opens them
            owned.add(engines);
            return new StepWorker(recipe, model, sampler, engines.gradients(), engines.reference(), rewards, owned);
        } catch (Exception | Error e) {
            closeAll(owned, e);
            throw e;
        }
    }

    public List<Reward> rewards() { return rewards; }

    /** The exported model folder this worker opened (what a cluster ships to executors that cannot read it). */
    public Path exportDir() { return model.exportDir(); }

    /** The adapter's version: step and a hash of its content, checked wherever the adapter is used. */
    public static String adapterVersion(long step, Map<String, float[]> weights) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer buf = ByteBuffer.allocate(4);
        for (var e : weights.entrySet()) {
            md.update(e.getKey().getBytes(StandardCharsets.UTF_8));
            for (float f : e.getValue()) {
                buf.clear();
                buf.putFloat(f);
                md.update(buf.array());
            }
        }
        return "step-" + step + "-" + HexFormat.of().formatHex(md.digest()).substring(0, 12);
    }

    /** Runs a slice with {@code weights}, which must be the adapter the slice names (checked: a mismatch fails loudly). */
    public SliceResult run(StepPlan.Slice slice, Map<String, float[]> weights) throws Exception {
        String have = adapterVersion(slice.step(), weights);
        if (!have.equals(slice.adapterVersion())) {
            throw new IllegalStateException("adapter version mismatch: the slice of step " + (slice.step() + 1) + " needs " + slice.adapterVersion()
                    + " but this worker was given " + have);
        }
        int g = recipe.generations();
        long tStart = System.nanoTime();
        // rollouts with the live adapter; the seed shifted so that slice prompt i draws step prompt firstPrompt + i's streams
        List<Completion> completions;
        double handover;
        try (AdapterBinding live = AdapterBinding.of(model.decoder().environment(), model.decoder().descriptor(),
                new PeftAdapter(loraConfig, copy(weights), null))) {
            handover = (System.nanoTime() - tStart) / 1e9;
            long seed = SamplerGenerator.shiftedSeed(recipe.runSeed() * 1_000_003L + slice.step(), slice.firstPrompt());
            SamplingParams params = new SamplingParams(g, recipe.samplingTemperature(), recipe.samplingTopP(), 0, 0.0,
                    recipe.completionLength(), List.of(), Set.of(), seed);
            completions = sampler.generate(slice.prompts(), params, live);
        }
        long tSampled = System.nanoTime();
        // rewards and group advantages (groups never straddle slices)
        int n = completions.size();
        double[] total = new double[n];
        double[][] per = new double[rewards.size()][n];
        for (int r = 0; r < rewards.size(); r++) {
            for (int start = 0; start < n; start += g) { // groups: the completions of one prompt
                List<String> texts = completions.subList(start, start + g).stream().map(Completion::text).toList();
                double[] v = rewards.get(r).scoreGroup(texts, slice.answers().get(completions.get(start).promptIndex()));
                System.arraycopy(v, 0, per[r], start, g);
            }
            double w = r < recipe.weights().size() ? recipe.weights().get(r) : 1.0;
            for (int c = 0; c < n; c++) total[c] += w * per[r][c];
        }
        float[] adv = Advantages.group(total, g, recipe.scale());
        long tRewards = System.nanoTime();
        // per micro-batch: reference log-probs with the adapter off, then the gradient pass
        List<SliceResult.Micro> micro = new ArrayList<>();
        double refSeconds = 0, trainSeconds = 0;
        for (int start = 0; start < n; start += recipe.microBatch()) {
            int index = slice.firstMicroBatch() + micro.size();
            List<Completion> mb = completions.subList(start, Math.min(n, start + recipe.microBatch()));
            long tr = System.nanoTime();
            GrpoMicroBatch b = microBatch(index, slice.step(), mb, slice.prompts(), adv, start);
            b = b.withRefLogps(reference.run(b.forReference(), weights).logps());
            long tg = System.nanoTime();
            GradientEngine.Result res = gradients.run(b, weights);
            long te = System.nanoTime();
            refSeconds += (tg - tr) / 1e9;
            trainSeconds += (te - tg) / 1e9;
            micro.add(new SliceResult.Micro(index, res.loss(), res.logps(), res.kl(), b.oldLogps(), res.gradients()));
        }
        int[] lengths = completions.stream().mapToInt(c -> c.tokenIds().length).toArray();
        return new SliceResult(slice.firstPrompt(), per, total, lengths, micro,
                new SliceResult.Seconds(handover, (tSampled - tStart) / 1e9 - handover, (tRewards - tSampled) / 1e9, refSeconds, trainSeconds),
                samples(slice, completions, per, total));
    }

    /** Completions shown per step: the first of each of the step's first {@value #SAMPLE_PROMPTS} prompts, however the step is sliced. */
    static final int SAMPLE_PROMPTS = 2;

    private static List<SliceResult.Sample> samples(StepPlan.Slice slice, List<Completion> completions, double[][] per, double[] total) {
        List<SliceResult.Sample> out = new ArrayList<>();
        Set<Integer> seen = new HashSet<>();
        for (int c = 0; c < completions.size(); c++) {
            int prompt = slice.firstPrompt() + completions.get(c).promptIndex();
            if (prompt >= SAMPLE_PROMPTS || !seen.add(prompt)) continue;
            double[] scores = new double[per.length];
            for (int r = 0; r < per.length; r++) scores[r] = per[r][c];
            out.add(new SliceResult.Sample(prompt, completions.get(c).text(), scores, total[c]));
        }
        return out;
    }

    /** One micro-batch of completions as the GRPO graph's inputs (right-padded rows of prompt + completion). */
    GrpoMicroBatch microBatch(int index, long step, List<Completion> mb, List<long[]> prompts, float[] adv, int offset) {
        int rows = mb.size(), len = 0, k = 0;
        for (Completion c : mb) {
            len = Math.max(len, prompts.get(c.promptIndex()).length + c.tokenIds().length);
            k += c.tokenIds().length;
        }
        long[] ids = new long[rows * len], mask = new long[rows * len], pos = new long[rows * len];
        long[] targetPositions = new long[k], targetIds = new long[k];
        float[] old = new float[k], advs = new float[k];
        int[] rowOf = new int[k];
        int i = 0;
        for (int r = 0; r < rows; r++) {
            Completion c = mb.get(r);
            long[] p = prompts.get(c.promptIndex());
            int tokens = p.length + c.tokenIds().length;
            for (int t = 0; t < tokens; t++) {
                ids[r * len + t] = t < p.length ? p[t] : c.tokenIds()[t - p.length];
                mask[r * len + t] = 1;
                pos[r * len + t] = t;
            }
            for (int j = 0; j < c.tokenIds().length; j++, i++) {
                targetPositions[i] = (long) r * len + p.length - 1 + j;
                targetIds[i] = c.tokenIds()[j];
                rowOf[i] = r;
                old[i] = c.logprobs()[j];
                advs[i] = adv[offset + r];
            }
        }
        float[] weights = aggregation.weights(rowOf, rows, recipe.completionLength());
        // a fresh dropout mask per (run, step, micro-batch), the same on every run of it
        Long dropoutSeed = recipe.dropout() > 0 ? recipe.runSeed() * 1_000_003L + step * 1009L + index : null;
        return new GrpoMicroBatch(index, rows, len, ids, mask, pos, targetPositions, targetIds, weights, advs, old, new float[k],
                (float) loraConfig.scale(), 1f, (float) recipe.klBeta(), (float) recipe.eps(), (float) recipe.epsHigh(), dropoutSeed);
    }

    private static Map<String, float[]> copy(Map<String, float[]> w) {
        Map<String, float[]> c = new LinkedHashMap<>();
        w.forEach((k, v) -> c.put(k, v.clone()));
        return c;
    }

    private static void closeAll(List<AutoCloseable> owned, Throwable failure) {
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                failure.addSuppressed(e);
            }
        }
    }

    @Override
    public void close() throws Exception {
        Exception first = null;
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                if (first == null) first = e;
                else first.addSuppressed(e);
            }
        }
        if (first != null) throw first;
    }
}
