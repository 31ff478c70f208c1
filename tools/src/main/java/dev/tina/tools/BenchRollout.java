package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.runtime.sampling.TokenSampler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code tina bench rollout}: the sampler on the real workload, many distinct prompts × n samples
 * at realistic lengths, against baselines measured in the same run: one prompt with as many
 * samples (the shared-prefill best case), and for a long-tailed length mix, waves against
 * continuous batching. Peak RSS is per workload (the kernel's high-water mark is reset before each).
 */
@Command(name = "rollout", mixinStandardHelpOptions = true,
        description = "Throughput on many distinct prompts × n samples (GRPO/eval shape), with same-run baselines: 1 prompt × the same number of samples, "
                + "and waves vs continuous batching on a long-tailed length mix.")
final class BenchRollout implements Callable<Integer> {
    @Mixin ModelOption model;
    @Option(names = "--prompts", required = true, description = "JSONL with a 'problem' (or 'prompt', 'question') field per line, e.g. ../shared/data/math500/test.jsonl") Path promptsFile;
    @Option(names = "--limit", defaultValue = "32", description = "distinct prompts; default ${DEFAULT-VALUE}") int limit;
    @Option(names = "--n", defaultValue = "2", description = "samples per prompt; default ${DEFAULT-VALUE}") int n;
    @Option(names = "--chat", description = "render prompts through the model's chat template") boolean chat;
    @Option(names = "--prompt-tokens", description = "make every prompt exactly this many tokens (following problems appended, then cut): e.g. 500 for Tina's prompt lengths") Integer promptTokens;
    @Option(names = "--new-tokens", defaultValue = "256", description = "max new tokens per sample; default ${DEFAULT-VALUE}") int newTokens;
    @Option(names = "--max-rows", defaultValue = "64", description = "rows decoded together; default ${DEFAULT-VALUE}") int maxRows;
    @Option(names = "--long-tail", description = "also run a long-tailed length mix: a stop set of vocab/MEAN token ids makes lengths "
            + "roughly geometric with this mean (capped at --new-tokens); waves vs continuous batching") Integer longTailMean;
    @Option(names = "--skip-single", description = "skip the 1 prompt × (limit × n) samples baseline") boolean skipSingle;
    @Option(names = "--long-tail-only", description = "with --long-tail: run only the waves vs continuous comparison") boolean longTailOnly;
    @Option(names = "--concat", description = "also run the distinct-prompt workload on the concatenating-cache graph in waves (the engine before the in-place cache)") boolean concat;
    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy, as tina generate without a generation_config.json (the long-tail mix always samples at 1.0); default ${DEFAULT-VALUE}") double temperature;
    @Option(names = "--seed", defaultValue = "1", description = "sampling seed; default ${DEFAULT-VALUE}") long seed;
    @Option(names = "--baseline-sampler", description = "also run the distinct-prompt workload with the scalar sampling passes (the sampler before the vector passes), in the same run") boolean baselineSampler;
    @Option(names = "--out", description = "write the results as JSON too") Path out;

    @Override
    public Integer call() throws Exception {
        ObjectMapper json = new ObjectMapper();
        ArrayNode rows = json.createArrayNode();
        try (LoadedModel m = LoadedModel.open(model.path(), SessionSettings.of(SessionSettings.Device.CPU));
             AdapterBinding none = m.adapter(null);
             BatchSampler sampler = m.sampler(maxRows, false)) {
            List<long[]> prompts = prompts(m);
            int total = 0, longest = 0;
            for (long[] p : prompts) {
                total += p.length;
                longest = Math.max(longest, p.length);
            }
            System.out.printf("model %s, %d prompts (%.0f tokens on average, longest %d) × %d samples, %d new tokens, %d rows, %s, %d threads, %s sampling passes%n",
                    m.exportDir(), prompts.size(), (double) total / prompts.size(), longest, n, newTokens, maxRows,
                    sampler.backend().name(), Runtime.getRuntime().availableProcessors(), TokenSampler.defaultPasses());
            SamplingParams p = new SamplingParams(n, temperature, 1.0, 0, 0.0, newTokens, List.of(), Set.of(), seed);
            sampler.generate(List.of(prompts.getFirst()), p.withN(1), none); // warm-up
            System.out.println("| workload | rows | tokens | seconds | tokens/s | ratio | prefill | decode | sampling | sampling ms/token | KV copies | peak RSS GB |");
            System.out.println("|---|---|---|---|---|---|---|---|---|---|---|---|");
            double base = Double.NaN;
            if (!skipSingle && !longTailOnly) {
                base = run(rows, "1 prompt × " + prompts.size() * n, sampler, List.of(prompts.getFirst()), p.withN(prompts.size() * n), none, Double.NaN);
            }
            if (!longTailOnly) run(rows, prompts.size() + " prompts × " + n, sampler, prompts, p, none, base);
            if (baselineSampler && !longTailOnly) {
                sampler.samplingPasses(TokenSampler.Passes.SCALAR);
                run(rows, prompts.size() + " prompts × " + n + " (scalar sampling)", sampler, prompts, p, none, base);
                sampler.samplingPasses(TokenSampler.defaultPasses());
            }
            if (concat && !longTailOnly) {
                try (BatchSampler old = m.concatSampler(maxRows, false)) {
                    run(rows, prompts.size() + " prompts × " + n + " (concat cache, waves)", old, prompts, p, none, base);
                }
            }
            if (longTailMean != null) {
                int vocab = m.decoder().descriptor().vocabSize();
                int k = Math.max(1, vocab / longTailMean);
                Set<Long> stop = new HashSet<>();
                for (long id = 0; stop.size() < k; id += vocab / k) stop.add(id);
                SamplingParams tail = new SamplingParams(n, 1.0, 1.0, 0, 0.0, newTokens, List.of(), stop, seed);
                double waves = run(rows, "long tail, waves", sampler.scheduling(BatchSampler.Scheduling.WAVES), prompts, tail, none, Double.NaN);
                run(rows, "long tail, continuous", sampler.scheduling(BatchSampler.Scheduling.CONTINUOUS), prompts, tail, none, waves);
            }
        }
        if (out != null) Files.writeString(out, json.writerWithDefaultPrettyPrinter().writeValueAsString(rows));
        return 0;
    }

    private double run(ArrayNode rows, String name, BatchSampler sampler, List<long[]> prompts, SamplingParams p, AdapterBinding adapter,
                       double baseline) throws Exception {
        ProcessMemory.resetPeak(); // not Linux: the peak is then the process's since start
        List<Completion> done = sampler.generate(prompts, p, adapter);
        BatchSampler.Stats s = sampler.lastStats();
        double tps = s.tokens / s.seconds(), peak = ProcessMemory.peakRssGb(), total = s.seconds() * 1e9;
        int[] lengths = done.stream().mapToInt(c -> c.tokenIds().length).sorted().toArray();
        System.out.printf("| %s | %d | %d | %.2f | %.1f | %s | %.0f%% | %.0f%% | %.0f%% | %.3f | %.0f%% | %.2f |%n", name, done.size(), s.tokens, s.seconds(), tps,
                Double.isNaN(baseline) ? "–" : String.format("%.2f×", tps / baseline), 100 * s.prefillNanos / total, 100 * s.decodeNanos / total,
                100 * s.samplingNanos / total, s.samplingNanos / 1e6 / s.tokens, 100 * s.gatherNanos / total, peak);
        if (p.stopTokenIds().size() > 0) {
            System.out.printf("  lengths: median %d, mean %.0f, max %d, %d of %d at the cap%n", lengths[lengths.length / 2],
                    Arrays.stream(lengths).average().orElse(0), lengths[lengths.length - 1],
                    Arrays.stream(lengths).filter(l -> l == p.maxNewTokens()).count(), lengths.length);
        }
        ObjectNode row = rows.addObject();
        row.put("workload", name);
        row.put("rows", done.size());
        row.put("tokens", s.tokens);
        row.put("seconds", s.seconds());
        row.put("tokens_per_second", tps);
        row.put("ratio", tps / baseline);
        row.put("prefill_s", s.prefillNanos / 1e9);
        row.put("decode_s", s.decodeNanos / 1e9);
        row.put("sampling_s", s.samplingNanos / 1e9);
        row.put("sampling_ms_per_token", s.samplingNanos / 1e6 / s.tokens);
        row.put("kv_copy_s", s.gatherNanos / 1e9);
        row.put("peak_rss_gb", peak);
        return tps;
    }

    private List<long[]> prompts(LoadedModel m) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<String> texts = new ArrayList<>();
        for (String line : Files.readAllLines(promptsFile)) {
            if (line.isBlank()) continue;
            JsonNode o = json.readTree(line);
            JsonNode t = o.has("problem") ? o.get("problem") : o.has("prompt") ? o.get("prompt") : o.get("question");
            if (t == null || !t.isTextual()) throw new IllegalArgumentException(promptsFile + ": a line without a 'problem', 'prompt' or 'question' text field");
            texts.add(t.asText());
        }
        if (texts.size() < limit) throw new IllegalArgumentException(promptsFile + ": " + texts.size() + " prompts, --limit " + limit);
        List<long[]> out = new ArrayList<>();
        for (int i = 0; i < limit; i++) {
            long[] ids = m.encodePrompt(texts.get(i), chat, null);
            if (promptTokens != null) {
                // longer prompts from the following problems: distinct, realistic text, exact length
                long[] longer = ids;
                for (int j = i + 1; longer.length < promptTokens; j++) {
                    long[] more = m.encodePrompt(texts.get(j % texts.size()), false, null);
                    long[] grown = Arrays.copyOf(longer, longer.length + more.length);
                    System.arraycopy(more, 0, grown, longer.length, more.length);
                    longer = grown;
                }
                ids = Arrays.copyOf(longer, promptTokens);
            }
            out.add(ids);
        }
        return out;
    }
}
