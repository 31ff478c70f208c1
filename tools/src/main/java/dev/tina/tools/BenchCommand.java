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
        subcommands = {BenchCommand.Generate.class, BenchCommand.Train.class, BenchSpark.class, BenchScaling.class})
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
        @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or tensorrt (GPU paths need a -Pgpu build; README, GPU)") String device;
        @Option(names = "--out", description = "write the results as JSON too") Path out;
        @Option(names = "--peer", description = "also run a peer engine single-stream on the same Hugging Face folder and compare: jlama "
                + "(needs a build with mvn -Pjlama and TINA_JAVA_OPTS=\"--add-modules jdk.incubator.vector\")") String peer;

        @Override
        public Integer call() throws Exception {
            ObjectMapper json = new ObjectMapper();
            ArrayNode rows = json.createArrayNode();
            long[] prompt = promptIds.stream().mapToLong(Long::longValue).toArray();
            java.lang.reflect.Method peerRun = peer == null ? null : Peer.find(peer, model); // fails before our long run
            double single = 0, singleDecodeOnly = Double.NaN;
            try (LoadedModel m = LoadedModel.open(model, SessionSettings.of(SessionSettings.Device.parse(device)));
                 AdapterBinding binding = m.adapter(adapter);
                 BatchSampler sampler = m.sampler(Math.max(64, batches.stream().mapToInt(i -> i).max().orElse(1)), false)) {
                System.out.printf("model %s, prompt %d ids, %d new tokens per sequence, %s (%s), %d threads%n", m.exportDir(), prompt.length,
                        newTokens, device, sampler.backend().name(), Runtime.getRuntime().availableProcessors());
                sampler.generate(List.of(prompt), SamplingParams.greedy(Math.min(16, newTokens)), binding); // warm-up
                System.out.println("| batch | tokens | seconds | tokens/s | × batch 1 | prefill | decode (ORT) | sampling (Java) | KV gather |");
                System.out.println("|---|---|---|---|---|---|---|---|---|");
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
                    if (b == 1) {
                        single = tps;
                        singleDecodeOnly = (best.tokens - 1) / (best.seconds() - best.prefillNanos / 1e9);
                    }
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
                if (sampler.backend() instanceof dev.tina.runtime.gpu.TensorRtDecoder trt) {
                    long[] c = trt.copiedBytes();
                    System.out.printf("TensorRT copies over the whole run: %.1f MB host→device, %.1f MB device→host (logits), %.1f MB device→device "
                            + "(KV row selection); the KV cache stays on the GPU%n", c[0] / 1e6, c[1] / 1e6, c[2] / 1e6);
                }
                if (referenceTps != null && single > 0) {
                    System.out.printf("single stream vs %s (%.1f tokens/s, given): %.2f×%n", referenceName, referenceTps, single / referenceTps);
                }
            }
            if (peerRun != null) Peer.run(peerRun, model, prompt, newTokens, repeats, single, singleDecodeOnly, rows.addObject());
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
            description = "Time one LoRA training step (forward + backward in ONNX Runtime, clipping and AdamW in Java) on random data, and report peak memory.")
    static final class Train implements Callable<Integer> {
        @Option(names = "--model", required = true, description = "Hugging Face folder or exported folder") Path model;
        @Option(names = "--rank", defaultValue = "32", description = "LoRA rank; default ${DEFAULT-VALUE}") int rank;
        @Option(names = "--alpha", defaultValue = "128", description = "lora_alpha; default ${DEFAULT-VALUE}") double alpha;
        @Option(names = "--targets", defaultValue = "all", description = "LoRA target modules; default ${DEFAULT-VALUE}") String targets;
        @Option(names = "--batch", defaultValue = "8", description = "sequences per step; default ${DEFAULT-VALUE}") int batch;
        @Option(names = "--seq", defaultValue = "256", description = "tokens per sequence (the second half are completion tokens); default ${DEFAULT-VALUE}") int seq;
        @Option(names = "--steps", defaultValue = "3", description = "timed steps after one warm-up; default ${DEFAULT-VALUE}") int steps;
        @Option(names = "--loss", defaultValue = "grpo", description = "grpo or sft; default ${DEFAULT-VALUE}") String loss;
        @Option(names = "--low-memory", description = "do not let ONNX Runtime pre-pack the base weights (less memory, maybe slower)") boolean lowMemory;
        @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda (tensorrt trains on cuda too); default ${DEFAULT-VALUE}") String device;

        @Override
        public Integer call() throws Exception {
            var options = new dev.tina.export.DecoderExporter.Options(dev.tina.export.checkpoint.DType.F32,
                    java.util.List.of(dev.tina.export.checkpoint.Projection.values()), false);
            Path export = dev.tina.export.ExportCache.resolve(model, options);
            var config = dev.tina.export.checkpoint.ModelConfig.read(export.resolve("config.json"));
            var projections = dev.tina.export.checkpoint.Projection.parseList(targets);
            dev.tina.training.graph.LossHead head = switch (loss) {
                case "grpo" -> new dev.tina.training.graph.LossHead.Grpo();
                case "sft" -> new dev.tina.training.graph.LossHead.Sft();
                default -> throw new IllegalArgumentException("unknown loss '" + loss + "', expected grpo or sft");
            };
            long t0 = System.nanoTime();
            var graph = dev.tina.training.graph.TrainingGraph.gradientGraph(export, rank, projections, head,
                    "bench-" + loss + "-r" + rank + ".onnx");
            double buildSeconds = (System.nanoTime() - t0) / 1e9;
            java.util.SplittableRandom rng = new java.util.SplittableRandom(7);
            java.util.Map<String, long[]> shapes = new java.util.LinkedHashMap<>();
            java.util.Map<String, float[]> init = new java.util.LinkedHashMap<>();
            for (String p : graph.params()) {
                var proj = projections.stream().filter(x -> p.contains("." + x.moduleName() + ".")).findFirst().orElseThrow();
                boolean a = p.endsWith("lora_A.weight");
                long[] shape = dev.tina.training.graph.TrainingGraph.paramShape(config, p, rank);
                float[] v = new float[(int) (shape[0] * shape[1])];
                double bound = a ? 1 / Math.sqrt(proj.inFeatures(config)) : 1e-3; // B small but non-zero so A gets gradients
                for (int i = 0; i < v.length; i++) v[i] = (float) rng.nextDouble(-bound, bound);
                shapes.put(p, shape);
                init.put(p, v);
            }
            var batchData = randomBatch(rng, config.vocabSize(), alpha / rank);
            var settings = new dev.tina.training.optim.LoraTrainer.Settings(1e-5, new dev.tina.training.optim.LrSchedule.Constant(),
                    steps + 1, 0, 1.0, 0.9, 0.999, 1e-8, 0.0);
            double[] times = new double[steps];
            SessionSettings.Device onDevice = SessionSettings.Device.parse(device);
            try (var grads = new dev.tina.training.ort.GradientSession(graph, shapes, lowMemory, null, onDevice)) {
                var trainer = new dev.tina.training.optim.LoraTrainer(grads, init, settings);
                long w0 = System.nanoTime();
                trainer.step(java.util.List.of(batchData));
                double warm = (System.nanoTime() - w0) / 1e9;
                for (int i = 0; i < steps; i++) {
                    long s0 = System.nanoTime();
                    trainer.step(java.util.List.of(batchData));
                    times[i] = (System.nanoTime() - s0) / 1e9;
                }
                java.util.Arrays.sort(times);
                System.out.printf("model %s, %s loss, LoRA r=%d on %s, batch %d × %d tokens (%d completion tokens), %d threads%n",
                        export, loss, rank, projections.stream().map(dev.tina.export.checkpoint.Projection::moduleName).toList(), batch, seq,
                        batch * (seq / 2), Runtime.getRuntime().availableProcessors());
                System.out.printf("graph build %.1f s, warm-up step %.2f s, median step %.3f s over %d, peak RSS %.2f GB%s, device %s%n",
                        buildSeconds, warm, times[steps / 2], steps, peakRssGb(), lowMemory ? " (pre-packing off)" : "", onDevice.ortDevice().cli());
                if (onDevice != SessionSettings.Device.CPU) {
                    long[] c = grads.lastCopyBytes();
                    System.out.printf("per micro-batch run: %.1f MB host→device, %.1f MB device→host (no IoBinding in the Java API)%n", c[0] / 1e6, c[1] / 1e6);
                }
            }
            return 0;
        }

        private dev.tina.training.ort.LoraTrainingSession.Batch randomBatch(java.util.SplittableRandom rng, int vocab, double scale) {
            long[] ids = new long[batch * seq], mask = new long[batch * seq], pos = new long[batch * seq];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = rng.nextInt(vocab);
                mask[i] = 1;
                pos[i] = i % seq;
            }
            int half = seq / 2, k = batch * (seq - 1 - half + 1) - batch;
            java.util.List<long[]> t = new java.util.ArrayList<>();
            for (int b = 0; b < batch; b++) for (int s = half - 1; s < seq - 1; s++) t.add(new long[]{(long) b * seq + s, ids[b * seq + s + 1]});
            int n = t.size();
            long[] tp = new long[n], ti = new long[n];
            float[] w = new float[n], adv = new float[n], old = new float[n], ref = new float[n];
            for (int i = 0; i < n; i++) {
                tp[i] = t.get(i)[0];
                ti[i] = t.get(i)[1];
                w[i] = 1f / n;
                adv[i] = (float) rng.nextGaussian();
                old[i] = -10f;
                ref[i] = -10f;
            }
            long[] shape = {batch, seq};
            var b = new dev.tina.training.ort.LoraTrainingSession.Batch()
                    .longs("input_ids", ids, shape).longs("attention_mask", mask, shape).longs("position_ids", pos, shape)
                    .floats("lora_scale", new float[]{(float) scale}, 1)
                    .longs("target_positions", tp, n).longs("target_ids", ti, n).floats("token_weights", w, n)
                    .floats("temperature", new float[]{1f}, 1);
            if (loss.equals("grpo")) {
                b.floats("advantages", adv, n).floats("old_logps", old, n).floats("ref_logps", ref, n)
                        .floats("beta", new float[]{0.04f}, 1).floats("epsilon_low", new float[]{0.2f}, 1).floats("epsilon_high", new float[]{0.2f}, 1);
            }
            return b;
        }

        private static double peakRssGb() throws java.io.IOException {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0 / 1024.0;
            }
            return Double.NaN;
        }
    }
}
