package dev.tina.tools;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.DecoderExporter;
import dev.tina.export.ExportCache;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.training.graph.GrpoMicroBatch;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.MicroBatch;
import dev.tina.training.graph.SftMicroBatch;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.layered.LayeredGradients;
import dev.tina.training.layered.MemoryBudget;
import dev.tina.training.layered.MemoryEstimate;
import dev.tina.training.layered.Recompute;
import dev.tina.training.optim.LoraTrainer;
import dev.tina.training.optim.LrSchedule;
import dev.tina.training.ort.GradientEngine;
import dev.tina.training.ort.GradientSession;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.OrtDecoder;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.runtime.sampling.TokenSampler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks; speeds are reported as ratios against a baseline measured in the same run.",
        subcommands = {BenchCommand.Generate.class, BenchRollout.class, BenchEval.class, BenchServe.class, BenchCommand.Train.class, BenchGradeCommand.class, BenchSpark.class, BenchScaling.class})
final class BenchCommand {

    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = "Decode throughput: single stream, then batches of B sequences sampled from one prompt; ratios against the single stream of the same run.")
    static final class Generate implements Callable<Integer> {
        @Mixin ModelOption model;
        @Option(names = "--adapter", description = "PEFT adapter to run with (LoRA inputs are always bound; this makes them non-zero)") Path adapter;
        @Option(names = "--prompt-ids", split = ",", defaultValue = "1", description = "prompt token ids; default ${DEFAULT-VALUE}") List<Long> promptIds;
        @Option(names = "--new-tokens", defaultValue = "200", description = "tokens per sequence; default ${DEFAULT-VALUE}") int newTokens;
        @Option(names = "--batches", split = ",", defaultValue = "1,16,64", description = "batch sizes; default ${DEFAULT-VALUE}") List<Integer> batches;
        @Option(names = "--repeats", defaultValue = "3", description = "runs per batch size, the best is reported; default ${DEFAULT-VALUE}") int repeats;
        @Option(names = "--reference-tps", description = "an outside single-stream figure to compare with (e.g. llama2.c's on this machine)") Double referenceTps;
        @Option(names = "--reference-name", defaultValue = "reference", description = "its name") String referenceName;
        @Mixin DeviceOption device;
        @Option(names = "--out", description = "write the results as JSON too") Path out;
        @Option(names = "--long-new-tokens", description = "also run each batch size > 1 with this many new tokens and report its tokens/s "
                + "as a ratio to the --new-tokens run (long-decode cost of the KV cache)") Integer longNewTokens;
        @Option(names = "--concat", description = "run on the concatenating-cache graph in waves (the engine before the in-place cache) instead") boolean concat;
        @Option(names = "--baseline-sampler", description = "also run each batch size with the scalar sampling passes (the sampler before the vector passes), in the same run") boolean baselineSampler;
        @Option(names = "--precision", split = ",", defaultValue = "exported", paramLabel = "P",
                description = "exported (the quantized graphs of a quantized export, else full precision), full, or both (e.g. full,exported): "
                        + "one table each on the same prompt, ratios against the first; default ${DEFAULT-VALUE}") List<String> precision;
        @Option(names = "--peer", description = "also run a peer engine single-stream on the same Hugging Face folder and compare: jlama "
                + "(needs a build with mvn -Pjlama and TINA_JAVA_OPTS=\"--add-modules jdk.incubator.vector\")") String peer;

        @Override
        public Integer call() throws Exception {
            ObjectMapper json = new ObjectMapper();
            ArrayNode rows = json.createArrayNode();
            long[] prompt = promptIds.stream().mapToLong(Long::longValue).toArray();
            java.lang.reflect.Method peerRun = peer == null ? null : Peer.find(peer, model.path()); // fails before our long run
            double single = 0, singleDecodeOnly = Double.NaN;
            List<double[]> tables = new ArrayList<>();
            List<OrtDecoder.Precision> precisions = new ArrayList<>(); // all parsed before the first (long) table
            for (String name : precision) {
                precisions.add(switch (name) {
                    case "exported" -> OrtDecoder.Precision.AS_EXPORTED;
                    case "full" -> OrtDecoder.Precision.FULL;
                    default -> throw new IllegalArgumentException("--precision " + name + ": expected exported or full");
                });
            }
            for (OrtDecoder.Precision prec : precisions) {
                ProcessMemory.resetPeak();
                double[] table = new double[batches.size()];
                single = 0;
                try (LoadedModel m = LoadedModel.open(model.path(), SessionSettings.of(device.get()), prec);
                     AdapterBinding binding = m.adapter(adapter);
                     BatchSampler sampler = concat ? m.concatSampler(Math.max(64, batches.stream().mapToInt(i -> i).max().orElse(1)), false)
                             : m.sampler(Math.max(64, batches.stream().mapToInt(i -> i).max().orElse(1)), false)) {
                    var q = m.decoder().quantized() ? m.decoder().descriptor().quantization() : null;
                    System.out.printf("model %s, %s, prompt %d ids, %d new tokens per sequence, %s (%s), %d threads, %s sampling passes%n", m.exportDir(),
                            q == null ? "full precision" : q.describe(), prompt.length,
                            newTokens, device.get().cli(), sampler.backend().name(), Runtime.getRuntime().availableProcessors(), TokenSampler.defaultPasses());
                    sampler.generate(List.of(prompt), SamplingParams.greedy(Math.min(16, newTokens)), binding); // warm-up
                    System.out.println("| batch | tokens | seconds | tokens/s | × batch 1 | prefill | decode (ORT) | sampling (Java) | sampling ms/token | KV gather |");
                    System.out.println("|---|---|---|---|---|---|---|---|---|---|");
                    List<TokenSampler.Passes> passes = baselineSampler ? List.of(TokenSampler.defaultPasses(), TokenSampler.Passes.SCALAR)
                            : List.of(TokenSampler.defaultPasses());
                    for (int b : batches) for (TokenSampler.Passes pass : passes) {
                        sampler.samplingPasses(pass);
                        boolean baseline = pass != passes.getFirst();
                        BatchSampler.Stats best = null;
                        for (int r = 0; r < repeats; r++) {
                            SamplingParams p = b == 1 ? SamplingParams.greedy(newTokens)
                                    : new SamplingParams(b, 1.0, 1.0, 0, 0.0, newTokens, List.of(), Set.of(), r);
                            List<Completion> done = sampler.generate(List.of(prompt), p, binding);
                            BatchSampler.Stats s = sampler.lastStats();
                            if (best == null || s.tokens / s.seconds() > best.tokens / best.seconds()) best = s;
                        }
                        double tps = best.tokens / best.seconds();
                        if (!baseline) table[batches.indexOf(b)] = tps;
                        if (b == 1 && !baseline) {
                            single = tps;
                            singleDecodeOnly = (best.tokens - 1) / (best.seconds() - best.prefillNanos / 1e9);
                        }
                        double total = best.seconds() * 1e9;
                        System.out.printf("| %s | %d | %.2f | %.1f | %s | %.0f%% | %.0f%% | %.0f%% | %.3f | %.0f%% |%n", b + (baseline ? " (" + pass.name().toLowerCase() + " sampling)" : ""),
                                best.tokens, best.seconds(), tps, single > 0 ? String.format("%.2f", tps / single) : "–", 100 * best.prefillNanos / total,
                                100 * best.decodeNanos / total, 100 * best.samplingNanos / total, best.samplingNanos / 1e6 / best.tokens, 100 * best.gatherNanos / total);
                        ObjectNode row = rows.addObject();
                        row.put("precision", q == null ? "full" : q.scheme());
                        row.put("batch", b);
                        row.put("sampling_passes", pass.name());
                        row.put("tokens", best.tokens);
                        row.put("seconds", best.seconds());
                        row.put("tokens_per_second", tps);
                        row.put("ratio_vs_batch1", single > 0 ? tps / single : Double.NaN);
                        row.put("prefill_s", best.prefillNanos / 1e9);
                        row.put("decode_s", best.decodeNanos / 1e9);
                        row.put("sampling_s", best.samplingNanos / 1e9);
                        row.put("sampling_ms_per_token", best.samplingNanos / 1e6 / best.tokens);
                        row.put("gather_s", best.gatherNanos / 1e9);
                        if (baseline) continue;
                        if (longNewTokens != null && b > 1) {
                            BatchSampler.Stats lng = null;
                            for (int r = 0; r < repeats; r++) {
                                sampler.generate(List.of(prompt), new SamplingParams(b, 1.0, 1.0, 0, 0.0, longNewTokens, List.of(), Set.of(), r), binding);
                                BatchSampler.Stats s = sampler.lastStats();
                                if (lng == null || s.tokens / s.seconds() > lng.tokens / lng.seconds()) lng = s;
                            }
                            double longTps = lng.tokens / lng.seconds(), lt = lng.seconds() * 1e9;
                            System.out.printf("| %d × %d new | %d | %.2f | %.1f | %.2f× of %d new | %.0f%% | %.0f%% | %.0f%% | %.3f | %.0f%% |%n", b, longNewTokens,
                                    lng.tokens, lng.seconds(), longTps, longTps / tps, newTokens, 100 * lng.prefillNanos / lt,
                                    100 * lng.decodeNanos / lt, 100 * lng.samplingNanos / lt, lng.samplingNanos / 1e6 / lng.tokens, 100 * lng.gatherNanos / lt);
                            row.put("long_new_tokens", longNewTokens);
                            row.put("long_tokens_per_second", longTps);
                            row.put("long_ratio", longTps / tps);
                        }
                    }
                    if (sampler.backend() instanceof dev.tina.runtime.gpu.TensorRtDecoder trt) {
                        long[] c = trt.copiedBytes();
                        System.out.printf("TensorRT copies over the whole run: %.1f MB host→device, %.1f MB device→host (logits), %.1f MB device→device "
                                + "(KV row selection); the KV cache stays on the GPU%n", c[0] / 1e6, c[1] / 1e6, c[2] / 1e6);
                    }
                    if (referenceTps != null && single > 0) {
                        System.out.printf("single stream vs %s (%.1f tokens/s, given): %.2f×%n", referenceName, referenceTps, single / referenceTps);
                    }
                    System.out.printf("peak RSS %.2f GB%n", ProcessMemory.peakRssGb());
                }
                tables.add(table);
            }
            for (int t = 1; t < tables.size(); t++) {
                StringBuilder line = new StringBuilder("--precision " + precision.get(t) + " vs " + precision.get(0) + ", tokens/s ratio per batch:");
                for (int i = 0; i < batches.size(); i++) line.append(String.format(" %d: %.2f×", batches.get(i), tables.get(t)[i] / tables.get(0)[i]));
                System.out.println(line);
            }
            if (peerRun != null) Peer.run(peerRun, model.path(), prompt, newTokens, repeats, single, singleDecodeOnly, rows.addObject());
            if (out != null) Files.writeString(out, json.writerWithDefaultPrettyPrinter().writeValueAsString(rows));
            return 0;
        }
    }

    /** The benchmark-only peer engine, present only in builds with {@code mvn -Pjlama} (tools/src/jlama/java); reached by reflection. */
    static final class Peer {
        private static final String CLASS = "dev.tina.tools.bench.JlamaPeer";
        private static final String BUILD = "build with `mvn -B -DskipTests -Pjlama install` first (see tools/pom.xml, profile jlama)";

        /** Checks everything that can be checked before the run; returns {@code JlamaPeer.tokensPerSecond}. */
        static java.lang.reflect.Method find(String name, Path model) {
            if (!name.equals("jlama")) throw new IllegalArgumentException("--peer: unknown peer '" + name + "'; the one supported is jlama");
            Class<?> c;
            try {
                c = Class.forName(CLASS);
                Class.forName("com.github.tjake.jlama.model.ModelSupport", false, c.getClassLoader());
            } catch (ClassNotFoundException | LinkageError e) {
                throw new IllegalArgumentException("--peer jlama: this tina has no Jlama in it; " + BUILD);
            }
            if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
                throw new IllegalArgumentException("--peer jlama: Jlama needs the Vector API; run with "
                        + "TINA_JAVA_OPTS=\"--add-modules jdk.incubator.vector\" ./tina ... (or java --add-modules jdk.incubator.vector -jar tools/target/tina.jar ...)");
            }
            if (dev.tina.export.ExportCache.isExport(model)) {
                throw new IllegalArgumentException("--peer jlama: --model must be a Hugging Face folder (config.json, *.safetensors, tokenizer.json), "
                        + "not an exported one: " + model);
            }
            if (!Files.isRegularFile(model.resolve("config.json")) || !Files.isRegularFile(model.resolve("tokenizer.json"))) {
                throw new IllegalArgumentException("--peer jlama: --model must be a Hugging Face folder with config.json and tokenizer.json "
                        + "(Jlama reads its tokenizer from there): " + model);
            }
            try {
                return c.getMethod("tokensPerSecond", Path.class, long[].class, int.class, int.class);
            } catch (NoSuchMethodException e) {
                throw new IllegalArgumentException("--peer jlama: " + CLASS + " has no tokensPerSecond(Path, long[], int, int); " + BUILD);
            }
        }

        static void run(java.lang.reflect.Method m, Path model, long[] prompt, int newTokens, int repeats, double single,
                        double singleDecodeOnly, ObjectNode row) throws Exception {
            System.out.println("running Jlama single stream on " + model + " ...");
            double tps, decodeOnly;
            String what;
            try {
                tps = (Double) m.invoke(null, model, prompt, newTokens, repeats);
                decodeOnly = (Double) m.getDeclaringClass().getMethod("lastDecodeOnlyTokensPerSecond").invoke(null);
                what = (String) m.getDeclaringClass().getMethod("lastDescription").invoke(null);
            } catch (java.lang.reflect.InvocationTargetException e) {
                if (e.getCause() instanceof LinkageError l) throw new IllegalArgumentException("--peer jlama: " + l + "; " + BUILD);
                if (e.getCause() instanceof Exception x) throw x;
                throw e;
            }
            System.out.printf("Jlama single stream: %.1f tokens/s (%.1f decode only); %s%n", tps, decodeOnly, what);
            if (single > 0) {
                System.out.printf("single stream vs Jlama (measured in this run): %.2f× (%.1f vs %.1f tokens/s, prefill included on both sides; "
                        + "decode only %.2f×: %.1f vs %.1f)%n", single / tps, single, tps, singleDecodeOnly / decodeOnly, singleDecodeOnly, decodeOnly);
            } else {
                System.out.println("(no batch 1 row in --batches, so no ratio against Jlama)");
            }
            row.put("peer", "jlama");
            row.put("batch", 1);
            row.put("tokens_per_second", tps);
            row.put("decode_only_tokens_per_second", decodeOnly);
            row.put("ratio_ours_vs_peer", single > 0 ? single / tps : Double.NaN);
            row.put("description", what);
        }
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Time LoRA training steps (forward + backward in ONNX Runtime, clipping and AdamW in Java) on random data, "
                    + "for one or more --recompute modes on the same batch in one run: step time, tokens/s, peak memory, and how far each mode's loss, "
                    + "log-probs and gradients are from the first mode's.")
    static final class Train implements Callable<Integer> {
        @Mixin ModelOption model;
        @Option(names = "--rank", defaultValue = "32", description = "LoRA rank; default ${DEFAULT-VALUE}") int rank;
        @Option(names = "--alpha", defaultValue = "128", description = "lora_alpha; default ${DEFAULT-VALUE}") double alpha;
        @Option(names = "--targets", defaultValue = "all", description = "LoRA target modules; default ${DEFAULT-VALUE}") String targets;
        @Option(names = "--batch", defaultValue = "8", description = "sequences per step; default ${DEFAULT-VALUE}") int batch;
        @Option(names = "--seq", defaultValue = "256", description = "tokens per sequence; default ${DEFAULT-VALUE}") int seq;
        @Option(names = "--prompt-tokens", description = "tokens of each sequence that are prompt (the rest are completion tokens, the loss's targets); default half of --seq") Integer promptTokens;
        @Option(names = "--steps", defaultValue = "3", description = "timed steps after the warm-up; default ${DEFAULT-VALUE}") int steps;
        @Option(names = "--warmup", defaultValue = "1", description = "untimed steps first; default ${DEFAULT-VALUE}") int warmup;
        @Option(names = "--loss", defaultValue = "grpo", description = "grpo or sft; default ${DEFAULT-VALUE}") String loss;
        @Option(names = "--recompute", defaultValue = "auto", split = ",", description = "auto, layer, none, or several (e.g. layer,none): the modes to run, in order, "
                + "on the same batch; auto picks none when its estimated peak fits --memory-budget, else layer; default ${DEFAULT-VALUE}") List<String> recompute;
        @Option(names = "--memory-budget", defaultValue = "0.5", paramLabel = "BUDGET", description = "what --recompute auto lets the whole-model graph take: "
                + "a fraction of physical memory or gigabytes (12GB); default ${DEFAULT-VALUE}") String memoryBudget;
        @Option(names = "--attention-block", defaultValue = "256", description = "queries per attention tile (--recompute layer); default ${DEFAULT-VALUE}") int attentionBlock;
        @Option(names = "--row-block", defaultValue = "1024", description = "tokens per run of the per-token pieces (--recompute layer); default ${DEFAULT-VALUE}") int rowBlock;
        @Option(names = "--low-memory", description = "--recompute none: do not let ONNX Runtime pre-pack the base weights (less memory, maybe slower)") boolean lowMemory;
        @Mixin DeviceOption device;

        @Override
        public Integer call() throws Exception {
            var options = new DecoderExporter.Options(DType.F32, List.of(Projection.values()), false);
            Path export = ExportCache.resolve(model.path(), options);
            ModelConfig config = ModelConfig.read(export.resolve("config.json"));
            List<Projection> projections = Projection.parseList(targets);
            LossHead head = switch (loss) {
                case "grpo" -> new LossHead.Grpo();
                case "sft" -> new LossHead.Sft();
                default -> throw new IllegalArgumentException("unknown loss '" + loss + "', expected grpo or sft");
            };
            int prompt = promptTokens != null ? promptTokens : seq / 2;
            if (prompt < 1 || prompt >= seq) throw new IllegalArgumentException("--prompt-tokens must be in [1, " + (seq - 1) + "], got " + prompt);
            SplittableRandom rng = new SplittableRandom(7);
            Map<String, float[]> init = new LinkedHashMap<>();
            for (String p : TrainingGraph.loraParams(config, projections)) {
                Projection proj = projections.stream().filter(x -> p.contains("." + x.moduleName() + ".")).findFirst().orElseThrow();
                boolean a = p.endsWith("lora_A.weight");
                long[] shape = TrainingGraph.paramShape(config, p, rank);
                float[] v = new float[(int) (shape[0] * shape[1])];
                double bound = a ? 1 / Math.sqrt(proj.inFeatures(config)) : 1e-3; // B small but non-zero so A gets gradients
                for (int i = 0; i < v.length; i++) v[i] = (float) rng.nextDouble(-bound, bound);
                init.put(p, v);
            }
            MicroBatch batchData = randomBatch(rng, config.vocabSize(), alpha / rank, prompt);
            int completion = batch * (seq - prompt);
            SessionSettings.Device onDevice = device.get();
            System.out.printf("model %s, %s loss, LoRA r=%d on %s, batch %d × %d tokens (%d prompt + %d completion each), %d threads, device %s%n",
                    export, loss, rank, projections.stream().map(Projection::moduleName).toList(), batch, seq, prompt, seq - prompt,
                    Runtime.getRuntime().availableProcessors(), onDevice.ortDevice().cli());
            GradientEngine.Result first = null;
            double firstStep = 0, firstCpu = 0;
            if (steps < 1 || warmup < 0) throw new IllegalArgumentException("--steps must be >= 1 and --warmup >= 0");
            MemoryEstimate estimate = MemoryEstimate.wholeGraph(config, batch, seq, completion);
            long budget = MemoryBudget.parse(memoryBudget).bytes(MemoryBudget.physicalBytes());
            System.out.printf("whole-graph (--recompute none) peak estimate %s; budget %.1f GB%n", estimate.describe(), budget / 1e9);
            for (String modeName : recompute) {
                Recompute.Decision pass = Recompute.parse(modeName).decide(estimate, budget, onDevice);
                Recompute mode = pass.mode();
                if (Recompute.parse(modeName) == Recompute.AUTO) System.out.println("--recompute " + pass);
                System.gc();
                if (!ProcessMemory.resetPeak()) System.out.println("(cannot reset the peak-RSS mark; peaks below include earlier modes)");
                double rssBefore = ProcessMemory.rssGb();
                long t0 = System.nanoTime();
                var spec = new Recompute.Spec(export, config, projections, rank, head, 0.0, true, "bench-" + loss + "-r" + rank);
                var layered = new LayeredGradients.Options(attentionBlock, rowBlock, LayeredGradients.Options.defaults().headChunkBytes(), true);
                try (GradientEngine engine = mode.open(spec, null, lowMemory, onDevice, layered)) {
                    double buildSeconds = (System.nanoTime() - t0) / 1e9;
                    // one extra pass to compare the modes' outputs (the optimizer does not hand out gradients)
                    GradientEngine.Result r = recompute.size() > 1 ? engine.run(batchData, init) : null;
                    var settings = new LoraTrainer.Settings(1e-5, new LrSchedule.Constant(), steps + warmup, 0, 1.0, 0.9, 0.999, 1e-8, 0.0);
                    LoraTrainer trainer = new LoraTrainer(engine, init, settings);
                    long w0 = System.nanoTime();
                    for (int i = 0; i < warmup; i++) trainer.step(List.of(batchData));
                    double warm = (System.nanoTime() - w0) / 1e9;
                    double[] times = new double[steps], cpu = new double[steps];
                    var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
                    for (int i = 0; i < steps; i++) {
                        long s0 = System.nanoTime(), c0 = os.getProcessCpuTime();
                        trainer.step(List.of(batchData));
                        times[i] = (System.nanoTime() - s0) / 1e9;
                        cpu[i] = (os.getProcessCpuTime() - c0) / 1e9;
                    }
                    Arrays.sort(times);
                    Arrays.sort(cpu);
                    double median = times[steps / 2];
                    System.out.printf("--recompute %-5s setup %.1f s, warm-up step %.2f s, median step %.3f s over %d (%.0f training tokens/s; CPU time %.2f s)%s, "
                                    + "peak RSS %.2f GB (%.2f GB when the mode started)%s%n",
                            mode.cli(), buildSeconds, warm, median, steps, batch * seq / median, cpu[steps / 2],
                            first == null ? "" : String.format(", %.2f× the first mode's step (CPU time %.2f×)", median / firstStep, cpu[steps / 2] / firstCpu),
                            ProcessMemory.peakRssGb(), rssBefore, mode == Recompute.NONE && lowMemory ? " (pre-packing off)" : "");
                    if (engine instanceof LayeredGradients lg) System.out.println("  time per piece over all runs: " + lg.timings());
                    if (engine instanceof GradientSession gs && onDevice != SessionSettings.Device.CPU) {
                        long[] copied = gs.lastCopyBytes();
                        System.out.printf("  per micro-batch run: %.1f MB host→device, %.1f MB device→host (no IoBinding in the Java API)%n",
                                copied[0] / 1e6, copied[1] / 1e6);
                    }
                    if (first == null) {
                        first = r;
                        firstStep = median;
                        firstCpu = cpu[steps / 2];
                    } else if (r != null) {
                        printAgreement(first, r, mode);
                    }
                }
            }
            return 0;
        }

        /** The largest difference to the first mode, per output, relative to that output's largest entry. */
        private static void printAgreement(GradientEngine.Result a, GradientEngine.Result b, Recompute mode) {
            double loss = Math.abs(a.loss() - b.loss()), logps = maxDiff(a.logps(), b.logps()) / Math.max(1e-30, maxAbs(a.logps()));
            double grads = 0;
            String worst = "";
            for (var e : a.gradients().entrySet()) {
                double d = maxDiff(e.getValue(), b.gradients().get(e.getKey())) / Math.max(1e-30, maxAbs(e.getValue()));
                if (d > grads) {
                    grads = d;
                    worst = e.getKey();
                }
            }
            System.out.printf("  agreement of --recompute %s with the first mode: loss %.6f vs %.6f (|diff| %.2e), log-probs max|diff|/max|logp| %.2e, "
                    + "gradients max over %d tensors of max|diff|/max|grad| %.2e (%s)%n", mode.cli(), b.loss(), a.loss(), loss, logps,
                    a.gradients().size(), grads, worst);
        }

        private static double maxDiff(float[] x, float[] y) {
            double m = 0;
            for (int i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
            return m;
        }

        private static double maxAbs(float[] x) {
            double m = 0;
            for (float v : x) m = Math.max(m, Math.abs(v));
            return m;
        }

        private MicroBatch randomBatch(SplittableRandom rng, int vocab, double scale, int prompt) {
            long[] ids = new long[batch * seq], mask = new long[batch * seq], pos = new long[batch * seq];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = rng.nextInt(vocab);
                mask[i] = 1;
                pos[i] = i % seq;
            }
            List<long[]> t = new ArrayList<>();
            for (int b = 0; b < batch; b++) for (int s = prompt - 1; s < seq - 1; s++) t.add(new long[]{(long) b * seq + s, ids[b * seq + s + 1]});
            int n = t.size();
            long[] tp = new long[n], ti = new long[n];
            float[] w = new float[n], adv = new float[n], old = new float[n], ref = new float[n];
            for (int i = 0; i < n; i++) {
                tp[i] = t.get(i)[0];
                ti[i] = t.get(i)[1];
                w[i] = 1f / n;
                adv[i] = (float) rng.nextGaussian();
                old[i] = (float) -Math.log(vocab); // about a random model's log-prob: ratios near 1, some clipped
                ref[i] = old[i];
            }
            return loss.equals("grpo")
                    ? new GrpoMicroBatch(0, batch, seq, ids, mask, pos, tp, ti, w, adv, old, ref, (float) scale, 1f, 0.04f, 0.2f, 0.2f, null)
                    : new SftMicroBatch(batch, seq, ids, mask, pos, tp, ti, w, (float) scale, 1f, null);
        }
    }
}
