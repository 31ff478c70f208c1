package dev.tina.tools;

import dev.tina.eval.Evaluation;
import dev.tina.eval.bench.Benchmark;
import dev.tina.eval.bench.Catalog;
import dev.tina.eval.report.EvalReport;
import dev.tina.eval.report.ReportMarkdown;
import dev.tina.eval.report.Timing;
import dev.tina.eval.run.EvalRunner;
import dev.tina.eval.run.EvalSettings;
import dev.tina.eval.run.Generator;
import dev.tina.eval.run.ModelInfo;
import dev.tina.eval.run.SamplerGenerator;
import dev.tina.eval.run.Variant;
import dev.tina.eval.tracking.EvalEvents;
import dev.tina.eval.tracking.Tracker;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.training.dist.Cluster;
import dev.tina.training.grpo.Checkpoints;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.LongConsumer;
import java.util.function.UnaryOperator;

/** {@code tina eval}: benchmarks through the batched sampler, graded, resumable, reported like the paper's table. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Evaluates a model (and LoRA adapters) on math benchmarks: Tina's prompt, the batched sampler, the grader; "
                + "pass@1, pass@k, maj@k with 95%% intervals; report.md, report.json, report.png in --out.",
                "Samples are appended to OUT/samples/VARIANT.jsonl as they finish: run the same command again to resume."})
final class EvalCommand implements Callable<Integer> {
    @Mixin ModelOption model;

    @Option(names = "--adapter", description = "PEFT LoRA adapter folder; repeat to compare several side by side")
    List<Path> adapters = new ArrayList<>();

    @Option(names = "--checkpoints", description = "a tina train run folder: evaluates every checkpoint-N/adapter in step order (after any --adapter); the report names the best and the final one")
    Path checkpoints;

    @Option(names = "--base", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "with --adapter, also evaluate the base model as the table's first row (default; --no-base skips it)")
    boolean base;

    @Option(names = "--benchmarks", required = true, split = ",",
            description = "comma-separated: aime24, aime25, amc23, math500, minerva, gsm8k, gpqa (needs --gpqa), or names declared with --custom")
    List<String> benchmarks;

    @Option(names = "--gpqa", description = "your copy of GPQA-Diamond (gated, not shipped): gpqa_diamond.csv, or JSONL with its columns")
    Path gpqa;

    @Option(names = "--custom", description = "a JSONL benchmark: NAME=FILE[,problem=FIELD][,answer=FIELD|solution=FIELD][,id=FIELD] "
            + "(defaults problem, answer); list NAME in --benchmarks; repeatable")
    List<String> customs = new ArrayList<>();

    @Option(names = "--n-samples", defaultValue = "1", description = "samples per problem (pass@k and maj@k for k up to this); default ${DEFAULT-VALUE}")
    int nSamples;

    @Option(names = "--max-new-tokens", defaultValue = "32768", description = "default ${DEFAULT-VALUE} (the paper's)")
    int maxNewTokens;

    @Option(names = "--limit", defaultValue = "0", description = "first M problems of each benchmark; 0 = all (default)")
    int limit;

    @Option(names = "--out", defaultValue = "out/eval", description = "run folder (resumed when it exists); default ${DEFAULT-VALUE}")
    Path out;

    @Option(names = "--seed", defaultValue = "42", description = "sampling seed; default ${DEFAULT-VALUE} (the paper's)")
    long seed;

    @Option(names = "--temperature", defaultValue = "0.6", description = "default ${DEFAULT-VALUE} (the paper's)")
    double temperature;

    @Option(names = "--top-p", defaultValue = "0.95", description = "default ${DEFAULT-VALUE} (the paper's)")
    double topP;

    @Option(names = "--chat", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "render prompts with the model's chat template (default; --no-chat sends the raw text)")
    boolean chat;

    @Option(names = "--system", description = "system prompt (Tina's evaluation used none)")
    String system;

    @Option(names = "--batch-rows", defaultValue = "64", description = "max sequences decoded together; default ${DEFAULT-VALUE}")
    int batchRows;

    @Mixin DeviceOption device;

    @Option(names = "--grade-deadline-ms", defaultValue = "5000", description = "per-sample grading deadline; past it the sample scores 0; default ${DEFAULT-VALUE}")
    long gradeDeadlineMs;

    @Mixin SparkOptions spark; // the sample log and report are written here, resume unchanged


    @Option(names = "--report-to", split = ",", paramLabel = "NAME", defaultValue = "jsonl",
            description = "jsonl (the sample logs and reports, always written; the default), tensorboard (also OUT/tensorboard/VARIANT/ event files: "
                    + "tensorboard --logdir OUT/tensorboard), comma-separated, or none (docs/tracking.md)")
    List<String> reportTo;

    /** A seam for tests (e.g. a generator that fails after N samples, to prove resume); the identity otherwise. */
    UnaryOperator<Generator> wrapGenerator = UnaryOperator.identity();

    @Override
    public Integer call() throws Exception {
        EvalSettings settings = new EvalSettings(nSamples, maxNewTokens, temperature, topP, seed, chat, system, limit, batchRows,
                device.get().cli());
        if (gradeDeadlineMs < 1) throw new IllegalArgumentException("--grade-deadline-ms must be >= 1");
        Set<Tracker> trackers = Tracker.parse(reportTo, "--report-to");
        List<Benchmark.Custom> custom = customs.stream().map(Catalog::parseCustom).toList();
        // data and adapters are checked before the model loads, so bad input fails in a second
        Evaluation.Data data = Evaluation.load(Catalog.resolve(benchmarks, gpqa, custom), limit);
        List<Variant> variants = new ArrayList<>();
        if (checkpoints != null) {
            if (!java.nio.file.Files.isDirectory(checkpoints)) throw new IllegalArgumentException(checkpoints + ": no such run folder");
            List<Path> found = Checkpoints.list(checkpoints).stream().map(p -> p.resolve("adapter")).toList();
            if (found.isEmpty()) throw new IllegalArgumentException(checkpoints + ": no checkpoint-N folders of a tina train run");
            adapters.addAll(found);
        }
        if (adapters.isEmpty() || base) variants.add(Variant.base());
        List<String> names = Variant.names(adapters);
        for (int i = 0; i < adapters.size(); i++) variants.add(Variant.adapter(names.get(i), adapters.get(i)));

        try (Cluster cluster = spark.openOrNull();
             LoadedModel m = LoadedModel.open(model.path(), SessionSettings.of(device.get()));
             BatchSampler sampler = m.sampler(batchRows)) {
            String fingerprint = m.decoder().descriptor().source() == null ? null : m.decoder().descriptor().source().get("fingerprint");
            ModelInfo info = new ModelInfo(model.path().toAbsolutePath().normalize().toString(), m.exportDir().toAbsolutePath().normalize().toString(),
                    fingerprint == null ? "unknown" : fingerprint, m.decoder().descriptor().architecture());
            SamplingParams params = new SamplingParams(1, temperature, topP, 0, 0, maxNewTokens, List.of(), Set.copyOf(m.defaults().eosTokenIds()), seed);
            Evaluation.Generators generators = v -> {
                AdapterBinding binding = m.adapter(v.adapter());
                try {
                    Generator local = new SamplerGenerator(m, sampler, binding, params, chat, system, batchRows);
                    if (cluster != null) {
                        local = cluster.generator(local, new Cluster.EvalJob(model.path().toAbsolutePath().toString(), v.adapter() == null ? null : v.adapter().toAbsolutePath().toString(),
                                device.get().cli(), seed, temperature, topP, maxNewTokens, List.copyOf(params.stopTokenIds()), chat, system, batchRows));
                    }
                    return wrapGenerator.apply(local);
                } catch (RuntimeException e) {
                    binding.close();
                    throw e;
                }
            };
            EvalReport report = Evaluation.run(out, settings, info, data, variants, generators, new ConsoleListener(), Duration.ofMillis(gradeDeadlineMs));
            System.out.print(ReportMarkdown.table(report));
            Timing t = report.totalTiming();
            System.out.printf(Locale.ROOT, "%nreport: %s (also report.json, report.png); samples: %s%n", out.resolve("report.md"), out.resolve("samples"));
            if (trackers.contains(Tracker.TENSORBOARD)) System.out.printf(Locale.ROOT, "tensorboard: tensorboard --logdir %s%n", EvalEvents.write(out, report));
            System.out.printf(Locale.ROOT, "%d tokens in %.1f s of generation: %.1f tokens/s, %.2f s per 1,000 tokens%n",
                    t.tokens(), t.generationSeconds(), t.tokensPerSecond(), t.secondsPer1000Tokens());
            return 0;
        }
    }

    /** A progress bar with ETA per variant (on a terminal), and one line per variant when it ends. */
    private static final class ConsoleListener implements Evaluation.Listener {
        private Progress bar;

        @Override
        public LongConsumer start(String variant, int pending, int alreadyDone) {
            if (alreadyDone > 0) System.err.printf("tina eval: %s: resuming, %d samples on disk, %d to make%n", variant, alreadyDone, pending);
            bar = Progress.count("eval " + variant, pending, "samples");
            return bar;
        }

        @Override
        public void finished(EvalRunner.Session s) {
            if (bar != null) bar.close();
            bar = null;
            if (s.written() + s.discarded() > 0) {
                System.err.printf(Locale.ROOT, "tina eval: %s: %d samples written%s, %d tokens in %.1f s (%.1f tokens/s)%s%n", s.variant(), s.written(),
                        s.discarded() > 0 ? " (" + s.discarded() + " already on disk made again and dropped)" : "", s.tokens(), s.generationSeconds(),
                        s.generationSeconds() > 0 ? s.tokens() / s.generationSeconds() : 0.0, s.completed() ? "" : "; interrupted: run again to resume");
            }
        }

        @Override
        public void note(String message) { System.err.println("tina eval: " + message); }
    }
}
