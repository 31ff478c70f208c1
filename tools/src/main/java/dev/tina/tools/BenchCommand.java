package dev.tina.tools;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.SamplingParams;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks; speeds are reported as ratios against a baseline measured in the same run.",
        subcommands = {BenchCommand.Generate.class})
final class BenchCommand {

    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = "Decode throughput: single stream, then batches of B sequences sampled from one prompt; ratios against the single stream of the same run.")
    static final class Generate implements Callable<Integer> {
        @Option(names = "--model", required = true, description = "Hugging Face folder or exported folder") Path model;
        @Option(names = "--adapter", description = "PEFT adapter to run with (LoRA inputs are always bound; this makes them non-zero)") Path adapter;
        @Option(names = "--prompt-ids", split = ",", defaultValue = "1", description = "prompt token ids; default ${DEFAULT-VALUE}") List<Long> promptIds;
        @Option(names = "--new-tokens", defaultValue = "200", description = "tokens per sequence; default ${DEFAULT-VALUE}") int newTokens;
        @Option(names = "--batches", split = ",", defaultValue = "1,16,64", description = "batch sizes; default ${DEFAULT-VALUE}") List<Integer> batches;
        @Option(names = "--repeats", defaultValue = "3", description = "runs per batch size, the best is reported; default ${DEFAULT-VALUE}") int repeats;
        @Option(names = "--reference-tps", description = "an outside single-stream figure to compare with (e.g. llama2.c's on this machine)") Double referenceTps;
        @Option(names = "--reference-name", defaultValue = "reference", description = "its name") String referenceName;
        @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda") String device;
        @Option(names = "--out", description = "write the results as JSON too") Path out;

        @Override
        public Integer call() throws Exception {
            ObjectMapper json = new ObjectMapper();
            ArrayNode rows = json.createArrayNode();
            long[] prompt = promptIds.stream().mapToLong(Long::longValue).toArray();
            try (LoadedModel m = LoadedModel.open(model, SessionSettings.of(SessionSettings.Device.parse(device)));
                 AdapterBinding binding = m.adapter(adapter);
                 BatchSampler sampler = new BatchSampler(m.decoder(), null, Math.max(64, batches.stream().mapToInt(i -> i).max().orElse(1)))) {
                System.out.printf("model %s, prompt %d ids, %d new tokens per sequence, %s, %d threads%n", m.exportDir(), prompt.length,
                        newTokens, device, Runtime.getRuntime().availableProcessors());
                sampler.generate(List.of(prompt), SamplingParams.greedy(Math.min(16, newTokens)), binding); // warm-up
                System.out.println("| batch | tokens | seconds | tokens/s | × batch 1 | prefill | decode (ORT) | sampling (Java) | KV gather |");
                System.out.println("|---|---|---|---|---|---|---|---|---|");
                double single = 0;
                for (int b : batches) {
                    BatchSampler.Stats best = null;
                    for (int r = 0; r < repeats; r++) {
                        SamplingParams p = b == 1 ? SamplingParams.greedy(newTokens)
                                : new SamplingParams(b, 1.0, 1.0, 0, 0.0, newTokens, List.of(), Set.of(), r);
                        List<Completion> done = sampler.generate(List.of(prompt), p, binding);
                        BatchSampler.Stats s = sampler.lastStats();
                        if (best == null || s.tokens / s.seconds() > best.tokens / best.seconds()) best = s;
                    }
                    double tps = best.tokens / best.seconds();
                    if (b == 1) single = tps;
                    double total = best.seconds() * 1e9;
                    System.out.printf("| %d | %d | %.2f | %.1f | %s | %.0f%% | %.0f%% | %.0f%% | %.0f%% |%n", b, best.tokens, best.seconds(), tps,
                            single > 0 ? String.format("%.2f", tps / single) : "–", 100 * best.prefillNanos / total,
                            100 * best.decodeNanos / total, 100 * best.samplingNanos / total, 100 * best.gatherNanos / total);
                    ObjectNode row = rows.addObject();
                    row.put("batch", b);
                    row.put("tokens", best.tokens);
                    row.put("seconds", best.seconds());
                    row.put("tokens_per_second", tps);
                    row.put("ratio_vs_batch1", single > 0 ? tps / single : Double.NaN);
                    row.put("prefill_s", best.prefillNanos / 1e9);
                    row.put("decode_s", best.decodeNanos / 1e9);
                    row.put("sampling_s", best.samplingNanos / 1e9);
                    row.put("gather_s", best.gatherNanos / 1e9);
                }
                if (referenceTps != null && single > 0) {
                    System.out.printf("single stream vs %s (%.1f tokens/s, given): %.2f×%n", referenceName, referenceTps, single / referenceTps);
                }
            }
            if (out != null) Files.writeString(out, json.writerWithDefaultPrettyPrinter().writeValueAsString(rows));
            return 0;
        }
    }
}
