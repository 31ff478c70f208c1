package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.peft.LoraConfig;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.GenerationDefaults;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.tools.serve.OpenAiServer;
import dev.tina.tools.serve.ServeOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;
import java.util.stream.Stream;

/**
 * {@code tina bench serve}: clients over real HTTP against an in-process {@code tina serve}, all
 * in one run so the ratios share the machine's state: (a) N concurrent requests against the same
 * requests through {@code BatchSampler} ({@code tina generate}'s path), (b) the requests spread
 * over several adapters against all on one adapter, (c) M requests at once against one after
 * another; then optionally a load test of random good, bad and cancelled requests that checks
 * nothing failed or leaked.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "tina serve under concurrent HTTP clients: tokens/s, time to first token, per-token latency; optional load test.")
final class BenchServe implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_AUTO_WARMUP = 60;

    @Mixin ModelOption model; // needs a tokenizer.json
    @Option(names = "--requests", defaultValue = "64", description = "concurrent requests of (a) and (b); default ${DEFAULT-VALUE}") int requests;
    @Option(names = "--sequential", defaultValue = "32", description = "requests of (c); default ${DEFAULT-VALUE}") int sequential;
    @Option(names = "--adapters", defaultValue = "4", description = "random adapters made for (b); default ${DEFAULT-VALUE}") int adapterCount;
    @Option(names = "--rank", defaultValue = "8", description = "their rank; default ${DEFAULT-VALUE}") int rank;
    @Option(names = "--prompt-tokens", defaultValue = "16", description = "random prompt length; default ${DEFAULT-VALUE}") int promptTokens;
    @Option(names = "--new-tokens", defaultValue = "64", description = "max_tokens per request (greedy; EOS may end earlier, the same in both runs of a ratio); default ${DEFAULT-VALUE}") int newTokens;
    @Option(names = "--batch-rows", defaultValue = "64", description = "server and sampler rows; default ${DEFAULT-VALUE}") int batchRows;
    @Option(names = "--seed", defaultValue = "1", description = "prompts and adapters; default ${DEFAULT-VALUE}") long seed;
    @Option(names = "--repeats", defaultValue = "3", description = "runs of each measurement, interleaved with the one it is compared with; the best is reported; default ${DEFAULT-VALUE}") int repeats;
    @Option(names = "--warmup", defaultValue = "auto", description = "untimed rounds of each path of (a) before its repeats (the server's code compiles later than the sampler's): a number, or auto: until two rounds in a row spend at most 2%% of their time compiling (at most " + MAX_AUTO_WARMUP + "), the state of a server that has been running a while; default ${DEFAULT-VALUE}") String warmup;
    @Option(names = "--load-seconds", defaultValue = "0", description = "then run the load test this long (0: none)") int loadSeconds;
    @Option(names = "--load-clients", defaultValue = "8", description = "concurrent clients of the load test; default ${DEFAULT-VALUE}") int loadClients;
    @Option(names = "--load-only", description = "skip (a), (b), (c)") boolean loadOnly;
    @Option(names = "--url", description = "run the load test against this running server (e.g. http://127.0.0.1:8000, started by tina serve in its own process) instead of an in-process one; its models from /v1/models, its memory from its /metrics; implies --load-only") URI url;
    @Option(names = "--stream-interval", defaultValue = "1", description = "the servers' --stream-interval (tokens per streamed event); default ${DEFAULT-VALUE}") int streamInterval;
    @Option(names = "--sections", defaultValue = "abc", description = "which of (a), (b), (c) to run; default ${DEFAULT-VALUE}") String sections;

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    /** The server measured (per-row LoRA mixing), and one with grouped mixing for (b). */
    private OpenAiServer server, grouped;
    /** Where the load test sends its requests: the in-process server's address or {@code --url}. */
    private String baseUrl;

    @Override
    public Integer call() throws Exception {
        warmupRounds(); // a bad --warmup fails before the model loads
        if (url != null) return external();
        Path tmp = Files.createTempDirectory("tina-bench-serve");
        try (LoadedModel m = LoadedModel.open(model.path(), SessionSettings.of(SessionSettings.Device.CPU))) {
            ModelConfig cfg = m.config();
            Map<String, Path> adapters = new LinkedHashMap<>();
            for (int i = 0; i < adapterCount; i++) {
                Path dir = tmp.resolve("ad" + i);
                randomAdapter(dir, cfg, rank, seed + i, 0.05);
                adapters.put("ad" + i, dir);
            }
            int queue = Math.max(requests, sequential) * 4 + loadClients * 4;
            ServeOptions o = ServeOptions.defaults("base").withLimits(Math.max(1, adapterCount), queue, batchRows).withStreamInterval(streamInterval);
            int vocab = m.decoder().descriptor().vocabSize();
            Set<Long> eos = new HashSet<>(m.decoder().descriptor().eosTokenIds());
            eos.addAll(m.defaults().eosTokenIds());
            SplittableRandom rng = new SplittableRandom(seed);
            List<long[]> prompts = new ArrayList<>();
            for (int i = 0; i < Math.max(requests, sequential); i++) prompts.add(randomPrompt(rng, promptTokens, vocab, eos));
            try (OpenAiServer s = OpenAiServer.start(o, m, adapters);
                 OpenAiServer g = loadOnly ? null : OpenAiServer.start(o.withLoraMixing(ServeOptions.LoraMixing.GROUPED), m, adapters)) {
                server = s;
                grouped = g;
                baseUrl = s.baseUrl();
                System.out.printf("model %s (vocab %d), %d threads, prompts of %d random ids, max_tokens %d greedy, %d rows, stream interval %d; load average %s%n",
                        m.exportDir(), vocab, Runtime.getRuntime().availableProcessors(), promptTokens, newTokens, batchRows, streamInterval, loadAverage());
                run(prompts.subList(0, Math.min(4, prompts.size())), i -> "base", false); // warm-up
                int code = 0;
                if (!loadOnly) throughput(m, prompts);
                if (loadSeconds > 0) {
                    List<String> models = new ArrayList<>(List.of("base"));
                    models.addAll(adapters.keySet());
                    code = load(models, vocab, eos, false);
                }
                return code;
            }
        } finally {
            try (Stream<Path> files = Files.walk(tmp)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }

    /**
     * The load test against the server at {@code --url}: the random prompts need the vocabulary's
     * size and the EOS ids, read from the model's files; its weights stay unloaded (a 1.5B model's
     * are gigabytes the client does not need).
     */
    private int external() throws Exception {
        if (loadSeconds <= 0) throw new IllegalArgumentException("--url runs the load test only: give --load-seconds");
        Path dir = LoadedModel.resolveExport(model.path());
        ModelConfig cfg = ModelConfig.read(dir.resolve("config.json"));
        Set<Long> eos = new HashSet<>(cfg.eosTokenIds());
        eos.addAll(GenerationDefaults.read(dir).eosTokenIds());
        baseUrl = url.toString().replaceAll("/+$", "");
        System.out.printf("server %s, model %s (vocab %d); load average %s%n", baseUrl, dir, cfg.vocabSize(), loadAverage());
        return load(servedModels(), cfg.vocabSize(), eos, true);
    }

    private void throughput(LoadedModel m, List<long[]> prompts) throws Exception {
        List<long[]> batch = prompts.subList(0, requests);
        List<long[]> seq = prompts.subList(0, sequential);
        Result generate = null, served = null, servedPlain = null, one = null, spread = null, together = null, oneByOne = null,
                oneGrouped = null, spreadGrouped = null;
        // each repeat's server runs against the sampler run just before them
        List<Double> streamRatios = new ArrayList<>(), plainRatios = new ArrayList<>();
        try (AdapterBinding none = m.adapter(null); BatchSampler sampler = m.sampler(batchRows, true)) {
            SamplingParams p = new SamplingParams(1, 0, 1, 0, 0, newTokens, List.of(), new HashSet<>(m.defaults().eosTokenIds()), 0);
            if (sections.contains("a")) {
                // untimed rounds of each path first: the compiler warms the server's and the clients' code as the sampler's
                int fixed = warmupRounds(), rounds = 0, calm = 0;
                long compiled = 0;
                double roundMs = 0;
                while (fixed >= 0 ? rounds < fixed : calm < 2 && rounds < MAX_AUTO_WARMUP) {
                    long t0 = System.nanoTime(), c0 = compileMillis();
                    sampler.generate(batch, p, none);
                    run(batch, i -> "base", true);
                    run(batch, i -> "base", false);
                    roundMs = (System.nanoTime() - t0) / 1e6;
                    compiled = compileMillis() - c0;
                    calm = compiled <= 0.02 * roundMs ? calm + 1 : 0;
                    rounds++;
                }
                System.out.printf("warm-up: %d round%s of (a)'s three paths (--warmup %s), the last %.0f ms with %d ms of JIT compilation%n", rounds,
                        rounds == 1 ? "" : "s", warmup, roundMs, compiled);
            }
            // each measurement interleaved with the one it is compared with, best of --repeats: others share the machine
            for (int r = 0; r < repeats && sections.contains("a"); r++) {
                long t0 = System.nanoTime(), cpu0 = cpuNanos(), c0 = compileMillis();
                List<Completion> cs = sampler.generate(batch, p, none);
                double sec = (System.nanoTime() - t0) / 1e9;
                Result g = new Result(requests, cs.stream().mapToLong(c -> c.tokenIds().length).sum(), sampler.lastStats().decodeSteps, sec,
                        (cpuNanos() - cpu0) / 1e9, compileMillis() - c0, new double[0], new double[0], loadAverage());
                Result s = run(batch, i -> "base", true), plain = run(batch, i -> "base", false);
                streamRatios.add(s.tps() / g.tps());
                plainRatios.add(plain.tps() / g.tps());
                generate = best(generate, g);
                served = best(served, s);
                servedPlain = best(servedPlain, plain);
            }
        }
        for (int r = 0; r < repeats && adapterCount >= 1 && sections.contains("b"); r++) {
            one = best(one, run(batch, i -> "ad0", true));
            spread = best(spread, run(batch, i -> "ad" + (i % adapterCount), true));
            OpenAiServer perRow = server;
            server = grouped;
            try {
                oneGrouped = best(oneGrouped, run(batch, i -> "ad0", true));
                spreadGrouped = best(spreadGrouped, run(batch, i -> "ad" + (i % adapterCount), true));
            } finally {
                server = perRow;
            }
        }
        for (int r = 0; r < repeats && sections.contains("c"); r++) {
            together = best(together, run(seq, i -> "base", true));
            long t0 = System.nanoTime(), cpu0 = cpuNanos(), c0 = compileMillis();
            long tokens = 0;
            for (int i = 0; i < seq.size(); i++) tokens += run(seq.subList(i, i + 1), k -> "base", true).tokens();
            oneByOne = best(oneByOne, new Result(sequential, tokens, 0, (System.nanoTime() - t0) / 1e9, (cpuNanos() - cpu0) / 1e9, compileMillis() - c0, new double[0],
                    new double[0], loadAverage()));
        }
        System.out.println();
        System.out.println("| run | requests | tokens | decode steps | seconds | tokens/s | ratio | CPU seconds | JIT ms | TTFT p50 / p99 (ms) | per-token p50 / p99 (ms) | load average |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|---|");
        if (generate != null) {
            row("(a) tina generate path (BatchSampler)", generate, 1.0);
            row("(a) tina serve, streaming clients", served, served.tps() / generate.tps());
            row("(a) tina serve, non-streaming clients", servedPlain, servedPlain.tps() / generate.tps());
            System.out.printf("(a) the median of the %d repeats' own ratios (each against the BatchSampler run just before it): streaming %.2f, non-streaming %.2f%n",
                    streamRatios.size(), median(streamRatios), median(plainRatios));
            if (served.tokens() != generate.tokens()) {
                System.out.printf("note: the server generated %d tokens, BatchSampler %d%n", served.tokens(), generate.tokens());
            }
        }
        if (one != null) {
            row("(b) all on one adapter", one, 1.0);
            row("(b) spread over " + adapterCount + " adapters (per-row scale, one call per step)", spread, spread.tps() / one.tps());
            row("(b) grouped mixing: all on one adapter", oneGrouped, 1.0);
            row("(b) grouped mixing: spread over " + adapterCount + " adapters (one call per adapter)", spreadGrouped,
                    spreadGrouped.tps() / oneGrouped.tps());
        }
        if (together != null) {
            row("(c) " + sequential + " one after another", oneByOne, 1.0);
            row("(c) " + sequential + " at once (ratio: × faster)", together, oneByOne.seconds() / together.seconds());
        }
    }

    private static Result best(Result a, Result b) { return a == null || b.tps() > a.tps() ? b : a; }

    private static void row(String name, Result r, double ratio) {
        String ttft = r.ttft().length == 0 || r.perToken().length == 0 ? "" : String.format("%.1f / %.1f", r.ttftMs(0.5), r.ttftMs(0.99));
        String per = r.perToken().length == 0 ? "" : String.format("%.2f / %.2f", r.perTokenMs(0.5), r.perTokenMs(0.99));
        System.out.printf("| %s | %d | %d | %s | %.2f | %.0f | %.2f | %.2f | %d | %s | %s | %s |%n", name, r.requests(), r.tokens(),
                r.steps() == 0 ? "" : String.valueOf(r.steps()), r.seconds(), r.tps(), ratio,
                r.cpuSeconds(), r.compileMs(), ttft, per, r.load());
    }

    /** {@code compileMs}: the JIT compilers' time during the measurement. */
    record Result(int requests, long tokens, long steps, double seconds, double cpuSeconds, long compileMs, double[] ttft, double[] perToken,
                  String load) {
        double tps() { return tokens / seconds; }

        double ttftMs(double q) { return percentile(ttft, q) * 1e3; }

        double perTokenMs(double q) { return percentile(perToken, q) * 1e3; }
    }

    static double percentile(double[] v, double q) {
        if (v.length == 0) return Double.NaN;
        double[] s = v.clone();
        Arrays.sort(s);
        return s[Math.min(s.length - 1, (int) Math.ceil(q * s.length) - 1)];
    }

    /**
     * All requests at once; greedy completions of token-id prompts. The clients run in this
     * process on the same cores as the server, so they are kept lean ({@link LeanReply}): one
     * plain connection per request, every answer read by this one thread through a selector and
     * scanned for event starts without decoding or parsing any chunk but the last (the usage).
     */
    private Result run(List<long[]> prompts, IntFunction<String> modelOf, boolean stream) throws Exception {
        int n = prompts.size();
        double[] ttft = new double[n], perToken = new double[n];
        long[] tokens = new long[n], sent = new long[n];
        List<byte[]> bodies = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            ObjectNode body = JSON.createObjectNode().put("model", modelOf.apply(k)).put("max_tokens", newTokens).put("temperature", 0)
                    .put("stream", stream);
            ArrayNode ids = body.putArray("prompt");
            for (long id : prompts.get(k)) ids.add(id);
            if (stream) body.putObject("stream_options").put("include_usage", true);
            bodies.add(JSON.writeValueAsBytes(body));
        }
        long t0 = System.nanoTime(), cpu0 = cpuNanos(), steps0 = server.decodeSteps(), c0 = compileMillis();
        List<LeanReply> replies = LeanReply.postAll(server.port(), "/v1/completions", bodies, sent);
        long end = System.nanoTime();
        for (int k = 0; k < n; k++) {
            LeanReply r = replies.get(k);
            if (r.status() != 200) throw new IllegalStateException("HTTP " + r.status() + ": " + r.tail());
            tokens[k] = r.completionTokens();
            if (!stream) {
                ttft[k] = (r.lastEvent() == 0 ? end - sent[k] : r.lastEvent() - sent[k]) / 1e9;
                continue;
            }
            if (!r.tail().endsWith("data: [DONE]\n\n")) throw new IllegalStateException("the stream did not end with [DONE]: " + r.tail());
            int chunks = r.events() - 2; // the finish and usage chunks carry no token
            ttft[k] = ((r.firstEvent() == 0 ? end : r.firstEvent()) - sent[k]) / 1e9;
            perToken[k] = chunks > 1 ? (r.lastEvent() - r.firstEvent()) / 1e9 / (chunks - 1) : 0;
        }
        double sec = (end - t0) / 1e9;
        return new Result(n, Arrays.stream(tokens).sum(), server.decodeSteps() - steps0, sec, (cpuNanos() - cpu0) / 1e9, compileMillis() - c0, ttft,
                stream ? perToken : new double[0], loadAverage());
    }

    /** The JIT compilers' accumulated time so far, in milliseconds (0 where the JVM does not say). */
    static long compileMillis() {
        var c = ManagementFactory.getCompilationMXBean();
        return c != null && c.isCompilationTimeMonitoringSupported() ? c.getTotalCompilationTime() : 0;
    }

    /** {@code --warmup} as a round count, or -1 for auto. */
    private int warmupRounds() {
        if (warmup.equals("auto")) return -1;
        try {
            int n = Integer.parseInt(warmup);
            if (n >= 0) return n;
        } catch (NumberFormatException ignored) {
            // the message below
        }
        throw new IllegalArgumentException("--warmup " + warmup + ": expected auto or a number of rounds >= 0");
    }

    static double median(List<Double> v) {
        if (v.isEmpty()) return Double.NaN;
        double[] s = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** CPU time of this process so far (every thread: server, clients, ONNX Runtime's pool, compiler, collector). */
    static long cpuNanos() {
        return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os ? os.getProcessCpuTime() : 0;
    }

    // ---------------------------------------------------------------- load test

    /**
     * Random good, bad and cancelled requests from several clients; exit 1 if a good request failed or
     * anything leaked. {@code models}: the base model first, then adapters. {@code external}: the server
     * runs in another process, so its memory and idleness are read from its {@code /metrics}.
     */
    private int load(List<String> models, int vocab, Set<Long> eos, boolean external) throws Exception {
        AtomicLong good = new AtomicLong(), bad = new AtomicLong(), cancelled = new AtomicLong(), failures = new AtomicLong();
        List<String> failureNotes = Collections.synchronizedList(new ArrayList<>());
        long start = System.nanoTime(), end = start + loadSeconds * 1_000_000_000L;
        if (!external) System.gc();
        double rssStart = rssGb(external), rssMax = rssStart, rssThird = -1;
        double heapStart = heapMb(external);
        System.out.printf("%nload test: %d s, %d clients, models %s; %s RSS %.3f GB, heap %.1f MB, load average %s%n", loadSeconds, loadClients,
                models, external ? "server" : "start", rssStart, heapStart, loadAverage());
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (int c = 0; c < loadClients; c++) {
                SplittableRandom rng = new SplittableRandom(seed * 1000 + c);
                fs.add(pool.submit(() -> {
                    while (System.nanoTime() < end) {
                        double kind = rng.nextDouble();
                        try {
                            if (kind < 0.1) badRequest(rng, models.getFirst(), bad, failures, failureNotes);
                            else if (kind < 0.25) cancelledRequest(rng, models, vocab, eos, cancelled);
                            else goodRequest(rng, models, vocab, eos, good, failures, failureNotes);
                        } catch (Exception e) {
                            failures.incrementAndGet();
                            failureNotes.add(e.toString());
                        }
                    }
                    return null;
                }));
            }
            long next = System.nanoTime() + 10_000_000_000L;
            while (fs.stream().anyMatch(f -> !f.isDone())) {
                Thread.sleep(200);
                double rss = rssGb(external);
                rssMax = Math.max(rssMax, rss);
                if (rssThird < 0 && System.nanoTime() - start > (end - start) / 3) rssThird = rss;
                if (System.nanoTime() > next) {
                    next += 10_000_000_000L;
                    System.out.printf("  %d good, %d bad, %d cancelled, %d failed; RSS %.3f GB, heap %.1f MB; load average %s%n", good.get(), bad.get(),
                            cancelled.get(), failures.get(), rss, heapMb(external), loadAverage());
                }
            }
            for (Future<?> f : fs) f.get();
        }
        // back to idle: nothing in flight, no active row, an empty queue, in the server's own metrics
        long deadline = System.nanoTime() + 10_000_000_000L;
        boolean idle;
        do {
            String metrics = http.send(HttpRequest.newBuilder(URI.create(baseUrl + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            idle = (external || server.busy() == 0) && metrics.lines().filter(l -> l.startsWith("tina_running_requests{")
                    || l.startsWith("tina_active_rows ") || l.startsWith("tina_queue_length "))
                    .allMatch(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)) == 0);
            if (!idle) Thread.sleep(50);
        } while (!idle && System.nanoTime() < deadline);
        if (!external) System.gc();
        double rssEnd = rssGb(external), heapEnd = heapMb(external);
        // flat: the resident memory at the end within 10% of its value a third of the way in (runs of a minute or more)
        boolean flat = loadSeconds < 60 || rssEnd <= 1.10 * rssThird;
        System.out.printf("load test done: %d good, %d bad (all 4xx as expected), %d cancelled, %d failed; back to idle: %s;"
                        + " RSS %.3f → %.3f (at a third) → %.3f GB (max %.3f)%s, heap %s %.1f → %.1f MB; load average %s%n", good.get(), bad.get(),
                cancelled.get(), failures.get(), idle ? "yes" : "NO", rssStart, rssThird, rssEnd, rssMax,
                loadSeconds < 60 ? "" : flat ? ", flat" : ", NOT FLAT (over 10% above its value at a third)", external ? "in use" : "after GC",
                heapStart, heapEnd, loadAverage());
        for (String f : failureNotes.subList(0, Math.min(10, failureNotes.size()))) System.out.println("  failure: " + f);
        return failures.get() == 0 && idle && flat ? 0 : 1;
    }

    /** The server's resident memory: this process's, or from the external server's {@code process_resident_memory_bytes}. */
    private double rssGb(boolean external) throws Exception {
        return external ? metric("process_resident_memory_bytes ") / 1e9 : ProcessMemory.rssGb();
    }

    /** The server's Java heap in use: this process's, or the external server's {@code jvm_memory_used_bytes{area="heap"}}. */
    private double heapMb(boolean external) throws Exception {
        return (external ? metric("jvm_memory_used_bytes{area=\"heap\"} ") : usedHeap()) / 1e6;
    }

    private double metric(String prefix) throws Exception {
        String metrics = http.send(HttpRequest.newBuilder(URI.create(baseUrl + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
        return metrics.lines().filter(l -> l.startsWith(prefix)).mapToDouble(l -> Double.parseDouble(l.substring(prefix.length()).trim()))
                .findFirst().orElseThrow(() -> new IllegalStateException(baseUrl + "/metrics has no " + prefix.strip()));
    }

    /** The external server's models from {@code /v1/models}: the base model first (it is listed first), then its adapters. */
    private List<String> servedModels() throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(baseUrl + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) throw new IllegalArgumentException(baseUrl + "/v1/models: HTTP " + r.statusCode() + " " + r.body());
        List<String> out = new ArrayList<>();
        for (JsonNode m : JSON.readTree(r.body()).path("data")) out.add(m.get("id").asText());
        if (out.isEmpty()) throw new IllegalArgumentException(baseUrl + "/v1/models lists no model");
        return out;
    }

    private static long usedHeap() {
        Runtime r = Runtime.getRuntime();
        return r.totalMemory() - r.freeMemory();
    }

    private void goodRequest(SplittableRandom rng, List<String> models, int vocab, Set<Long> eos, AtomicLong good, AtomicLong failures,
                             List<String> notes) throws Exception {
        int n = 1 + rng.nextInt(3);
        long[] prompt = randomPrompt(rng, 1 + rng.nextInt(48), vocab, eos);
        boolean stream = rng.nextBoolean();
        ObjectNode body = JSON.createObjectNode().put("model", models.get(rng.nextInt(models.size()))).put("max_tokens", 1 + rng.nextInt(96))
                .put("temperature", rng.nextDouble() < 0.3 ? 0 : rng.nextDouble() * 1.5).put("seed", rng.nextLong()).put("n", n).put("stream", stream);
        ArrayNode ids = body.putArray("prompt");
        for (long id : prompt) ids.add(id);
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(baseUrl + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofString());
        boolean ok = r.statusCode() == 200;
        if (ok && stream) {
            ok = r.body().strip().endsWith("data: [DONE]");
            Set<Integer> finished = new HashSet<>();
            for (String line : r.body().lines().toList()) {
                if (!line.startsWith("data: {")) continue;
                JsonNode c = JSON.readTree(line.substring(6));
                if (c.has("error")) ok = false;
                for (JsonNode ch : c.path("choices")) if (ch.hasNonNull("finish_reason")) finished.add(ch.get("index").asInt());
            }
            ok &= finished.size() == n;
        } else if (ok) {
            JsonNode c = JSON.readTree(r.body());
            ok = c.get("choices").size() == n;
            for (JsonNode ch : c.get("choices")) ok &= ch.hasNonNull("finish_reason");
        }
        if (ok) good.incrementAndGet();
        else {
            failures.incrementAndGet();
            notes.add("HTTP " + r.statusCode() + ": " + r.body().substring(0, Math.min(300, r.body().length())));
        }
    }

    private void badRequest(SplittableRandom rng, String base, AtomicLong bad, AtomicLong failures, List<String> notes) throws Exception {
        String[] bodies = {"{\"model\": ", "{\"model\": \"base\", \"prompt\": \"x\", \"max_tokens\": \"many\"}", "{\"model\": \"nope\", \"prompt\": \"x\"}",
                "{\"model\": \"base\", \"prompt\": \"x\", \"max_tokens\": 100000000}", "{\"model\": \"base\", \"prompt\": [], \"n\": 0}"};
        for (int i = 0; i < bodies.length; i++) bodies[i] = bodies[i].replace("\"base\"", JSON.writeValueAsString(base));
        int[] expected = {400, 400, 404, 400, 400};
        int k = rng.nextInt(bodies.length);
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(baseUrl + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(bodies[k])).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == expected[k] && JSON.readTree(r.body()).has("error")) bad.incrementAndGet();
        else {
            failures.incrementAndGet();
            notes.add("bad request " + k + " got HTTP " + r.statusCode() + ": " + r.body());
        }
    }

    /** A streaming request whose client goes away after its first event. */
    private void cancelledRequest(SplittableRandom rng, List<String> models, int vocab, Set<Long> eos, AtomicLong cancelled) throws IOException {
        ObjectNode body = JSON.createObjectNode().put("model", models.get(rng.nextInt(models.size()))).put("max_tokens", 32 + rng.nextInt(64))
                .put("ignore_eos", true).put("stream", true).put("seed", rng.nextLong());
        ArrayNode ids = body.putArray("prompt");
        for (long id : randomPrompt(rng, 1 + rng.nextInt(32), vocab, eos)) ids.add(id);
        byte[] b = body.toString().getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket(URI.create(baseUrl).getHost(), URI.create(baseUrl).getPort())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.UTF_8));
            out.write(b);
            out.flush();
            InputStream in = socket.getInputStream();
            StringBuilder seen = new StringBuilder();
            for (int c; seen.indexOf("data: ") < 0 && (c = in.read()) >= 0; ) seen.append((char) c);
        }
        cancelled.incrementAndGet();
    }

    static long[] randomPrompt(SplittableRandom rng, int length, int vocab, Set<Long> eos) {
        long[] ids = new long[length];
        for (int i = 0; i < length; i++) {
            long id;
            do id = rng.nextInt(vocab); while (eos.contains(id));
            ids[i] = id;
        }
        return ids;
    }

    /** A PEFT adapter on all seven projections with Gaussian factors of deviation {@code std} (alpha = 2 × rank). */
    static void randomAdapter(Path dir, ModelConfig cfg, int rank, long seed, double std) throws IOException {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, float[]> t = new HashMap<>();
        for (int layer = 0; layer < cfg.numHiddenLayers(); layer++) {
            for (Projection p : Projection.values()) {
                float[] a = new float[rank * p.inFeatures(cfg)], b = new float[p.outFeatures(cfg) * rank];
                for (int i = 0; i < a.length; i++) a[i] = (float) (rng.nextGaussian() * std);
                for (int i = 0; i < b.length; i++) b[i] = (float) (rng.nextGaussian() * std);
                t.put(PeftAdapter.tensorName(layer, p, 'A'), a);
                t.put(PeftAdapter.tensorName(layer, p, 'B'), b);
            }
        }
        new PeftAdapter(LoraConfig.of(rank, 2.0 * rank, 0, List.of(Projection.values()), false), t, dir).write(dir, cfg);
    }

    /** The 1-, 5- and 15-minute load averages, to read every number beside (others share the machine). */
    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "n/a";
        }
    }
}
