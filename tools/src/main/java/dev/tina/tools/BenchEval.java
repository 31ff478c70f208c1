package dev.tina.tools;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.eval.Evaluation;
import dev.tina.eval.bench.Benchmark;
import dev.tina.eval.bench.Catalog;
import dev.tina.eval.run.EvalRunner;
import dev.tina.eval.run.EvalSettings;
import dev.tina.eval.run.ModelInfo;
import dev.tina.eval.run.SampleLog;
import dev.tina.eval.run.SampleRecord;
import dev.tina.eval.run.SamplerGenerator;
import dev.tina.eval.run.Variant;
import dev.tina.export.AtomicOutputDirectory;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.SamplingParams;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongConsumer;

/**
 * {@code tina bench eval}: {@code tina eval}'s whole path (prompts, sampler, grader, sample log) on the same
 * problems twice in one process: the earlier wave-per-call generation, then every (problem, sample) through one
 * continuous scheduler. The two sample logs must be equal line for line (else exit 1); the ratio of their
 * generation throughputs is the gain.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "tina eval's generation, waves (a sampler call per --batch-rows / --n-samples problems) vs one continuous scheduler, "
                + "in one run on the same samples (checked equal), optionally on a long-tailed length mix; reports the throughput ratio.")
final class BenchEval implements Callable<Integer> {
    @Mixin ModelOption model;
    @Option(names = "--benchmarks", split = ",", defaultValue = "math500", description = "as tina eval; default ${DEFAULT-VALUE}") List<String> benchmarks;
    @Option(names = "--custom", description = "a JSONL benchmark, as tina eval's --custom; repeatable") List<String> customs = new ArrayList<>();
    @Option(names = "--limit", defaultValue = "32", description = "first M problems of each benchmark; default ${DEFAULT-VALUE}") int limit;
    @Option(names = "--n-samples", defaultValue = "2", description = "samples per problem; default ${DEFAULT-VALUE}") int nSamples;
    @Option(names = "--max-new-tokens", defaultValue = "512", description = "default ${DEFAULT-VALUE}") int maxNewTokens;
    @Option(names = "--batch-rows", defaultValue = "16", description = "rows decoded together; default ${DEFAULT-VALUE}") int batchRows;
    @Option(names = "--long-tail", description = "a stop set of vocab/MEAN token ids besides EOS makes lengths roughly geometric with this mean "
            + "(capped at --max-new-tokens), the shape of reasoning traces on a model that never stops by itself") Integer longTailMean;
    @Option(names = "--chat", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "render prompts with the chat template (default; --no-chat sends the raw text)") boolean chat;
    @Option(names = "--temperature", defaultValue = "0.6", description = "default ${DEFAULT-VALUE}") double temperature;
    @Option(names = "--top-p", defaultValue = "0.95", description = "default ${DEFAULT-VALUE}") double topP;
    @Option(names = "--seed", defaultValue = "42", description = "default ${DEFAULT-VALUE}") long seed;
    @Option(names = "--out", description = "write the results as JSON too") Path out;

    @Override
    public Integer call() throws Exception {
        List<Benchmark.Custom> custom = customs.stream().map(Catalog::parseCustom).toList();
        Evaluation.Data data = Evaluation.load(Catalog.resolve(benchmarks, null, custom), limit);
        EvalSettings settings = new EvalSettings(nSamples, maxNewTokens, temperature, topP, seed, chat, null, limit, batchRows, "cpu");
        ObjectMapper json = new ObjectMapper();
        ArrayNode rows = json.createArrayNode();
        try (LoadedModel m = LoadedModel.open(model.path(), SessionSettings.of(SessionSettings.Device.CPU));
             BatchSampler sampler = m.sampler(batchRows)) {
            Set<Long> stop = new HashSet<>(m.defaults().eosTokenIds());
            if (longTailMean != null) {
                if (longTailMean < 1) throw new IllegalArgumentException("--long-tail must be >= 1, got " + longTailMean);
                int vocab = m.decoder().descriptor().vocabSize(), k = Math.max(1, vocab / longTailMean);
                for (long id = 0, added = 0; added < k; id += vocab / k, added++) stop.add(id);
            }
            SamplingParams params = new SamplingParams(1, temperature, topP, 0, 0, maxNewTokens, List.of(), stop, seed);
            ModelInfo info = new ModelInfo(model.path().toString(), m.exportDir().toString(), "bench", m.decoder().descriptor().architecture());
            System.out.printf(Locale.ROOT, "model %s, %d problems (%s) × %d samples, %d new tokens at most, %d rows, temperature %.2f, top-p %.2f%s, %d threads%n",
                    m.exportDir(), data.problems().size(), String.join(",", benchmarks), nSamples, maxNewTokens, batchRows, temperature, topP,
                    longTailMean == null ? "" : ", long tail " + longTailMean, Runtime.getRuntime().availableProcessors());
            try (AdapterBinding none = m.adapter(null)) { // JIT and session warm for both paths
                sampler.generate(List.of(m.encodePrompt(data.problems().getFirst().message(), chat, null)), params.withN(1), none);
            }
            System.out.println("| generation | samples | tokens | decode steps | rows per step | sampler s | tokens/s (sampler) | generation s | tokens/s | × waves |");
            System.out.println("|---|---|---|---|---|---|---|---|---|---|");
            List<String> reference = null;
            double wavesTps = Double.NaN, wavesSamplerTps = Double.NaN;
            for (BatchSampler.Scheduling s : List.of(BatchSampler.Scheduling.WAVES, BatchSampler.Scheduling.CONTINUOUS)) {
                Path dir = Files.createTempDirectory("tina-bench-eval");
                try {
                    AtomicReference<EvalRunner.Session> session = new AtomicReference<>();
                    AtomicReference<SamplerGenerator> generator = new AtomicReference<>();
                    Evaluation.run(dir, settings, info, data, List.of(Variant.base()),
                            v -> {
                                generator.set(new SamplerGenerator(m, sampler, m.adapter(null), params, chat, null, batchRows, s));
                                return generator.get();
                            },
                            new Evaluation.Listener() {
                                @Override
                                public LongConsumer start(String variant, int pending, int alreadyDone) { return x -> { }; }

                                @Override
                                public void finished(EvalRunner.Session done) { session.set(done); }
                            }, Duration.ofSeconds(5));
                    List<SampleRecord> records = SampleLog.readAll(Evaluation.samplesFile(dir, Variant.base()));
                    List<String> lines = records.stream().map(r -> r.toJson(json)).sorted().toList();
                    EvalRunner.Session t = session.get();
                    double tps = t.tokens() / t.generationSeconds();
                    BatchSampler.Stats st = generator.get().stats();
                    long steps = st.decodeSteps;
                    double perStep = (double) st.rowSteps / steps, samplerTps = st.tokens / st.seconds();
                    String name = s == BatchSampler.Scheduling.WAVES ? "waves (a call per " + Math.max(1, batchRows / nSamples) + " problems)" : "continuous (one scheduler)";
                    System.out.printf(Locale.ROOT, "| %s | %d | %d | %d | %.1f of %d | %.2f | %.1f | %.2f | %.1f | %s |%n", name, records.size(), t.tokens(),
                            steps, perStep, batchRows, st.seconds(), samplerTps, t.generationSeconds(), tps,
                            reference == null ? "–" : String.format(Locale.ROOT, "**%.2f×** (sampler %.2f×)", tps / wavesTps, samplerTps / wavesSamplerTps));
                    ObjectNode row = rows.addObject();
                    row.put("generation", s.name().toLowerCase(Locale.ROOT));
                    row.put("samples", records.size());
                    row.put("tokens", t.tokens());
                    row.put("seconds", t.generationSeconds());
                    row.put("tokens_per_second", tps);
                    row.put("decode_steps", steps);
                    row.put("rows_per_step", perStep);
                    row.put("sampler_seconds", st.seconds());
                    row.put("sampler_tokens_per_second", samplerTps);
                    if (reference == null) {
                        reference = lines;
                        wavesTps = tps;
                        wavesSamplerTps = samplerTps;
                        int[] lengths = records.stream().mapToInt(SampleRecord::tokens).sorted().toArray();
                        long capped = records.stream().filter(r -> r.finish().equals("length")).count();
                        System.out.printf(Locale.ROOT, "  lengths: median %d, mean %.0f, max %d, %d of %d at the cap%n", lengths[lengths.length / 2],
                                Arrays.stream(lengths).average().orElse(0), lengths[lengths.length - 1], capped, lengths.length);
                    } else {
                        row.put("ratio", tps / wavesTps);
                        row.put("sampler_ratio", samplerTps / wavesSamplerTps);
                        if (!lines.equals(reference)) {
                            System.out.println("samples differ between the two paths: they must be identical");
                            return 1;
                        }
                        System.out.printf("samples identical in both paths (%d lines: completion, tokens, finish reason, grade)%n", lines.size());
                    }
                } finally {
                    AtomicOutputDirectory.deleteRecursively(dir);
                }
            }
        }
        if (out != null) Files.writeString(out, json.writerWithDefaultPrettyPrinter().writeValueAsString(rows));
        return 0;
    }

}
