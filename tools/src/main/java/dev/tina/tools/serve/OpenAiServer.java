package dev.tina.tools.serve;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.runtime.GenerationDefaults;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.InPlaceBackend;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.runtime.sampling.SlotBackend;
import dev.tina.runtime.text.ChatMessage;
import dev.tina.runtime.text.ChatTemplate;
import dev.tina.runtime.text.HfTokenizer;
import dev.tina.runtime.text.IncrementalDetokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The OpenAI-compatible HTTP server of {@code tina serve}: the JDK's HTTP server with a virtual
 * thread per exchange (no dependency; a blocked handler costs no platform thread, and a
 * streaming response is a chunked body written token by token, whose failed write tells us the
 * client has gone). Generation runs on one {@link LiveBatcher}; this class parses requests,
 * routes them to the base model or an adapter by {@code model}, and writes OpenAI's response,
 * chunk and error objects. Owns the batcher, the adapter registry and the HTTP server; the model
 * belongs to the caller.
 */
public final class OpenAiServer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final int MAX_TOP_LOGPROBS = 20, MAX_N = 128;
    /** How often a running non-streaming request checks that its client is still there. */
    static final long HEARTBEAT_NANOS = 500_000_000L;

    private final ServeOptions options;
    private final LoadedModel model;
    private final HfTokenizer tokenizer;
    private final ChatTemplate template;
    private final GenerationDefaults defaults;
    private final int contextLength;
    private final String baseHash;
    private final AdapterRegistry adapters;
    private final LiveBatcher batcher;
    private final ServeMetrics metrics = new ServeMetrics();
    private final HttpServer http;
    private final ExecutorService executor;
    private final Path loraRoot;

    private OpenAiServer(ServeOptions options, LoadedModel model, Map<String, Path> startAdapters) throws Exception {
        this.options = options;
        this.model = model;
        this.tokenizer = model.tokenizer().orElseThrow(() -> new IllegalArgumentException(
                model.exportDir() + ": the model has no tokenizer.json; tina serve needs one for text prompts and answers"));
        this.template = model.chatTemplate().orElse(null);
        this.defaults = model.defaults();
        this.contextLength = Math.min(model.maxPositions(), options.maxModelLen());
        this.loraRoot = options.loraRoot() == null ? null : options.loraRoot().toRealPath();
        var source = model.decoder().descriptor().source();
        String fp = source == null ? null : source.get("fingerprint");
        this.baseHash = fp != null ? fp : AdapterRegistry.contentHash(model.exportDir());
        AdapterRegistry registry = new AdapterRegistry(model, options.servedModelName(), baseHash, options.maxLoras(), options.maxLoraRank());
        LiveBatcher b = null;
        HttpServer server = null;
        try {
            for (var e : startAdapters.entrySet()) registry.add(e.getKey(), e.getValue());
            for (var e : registry.list()) metrics.register(e.name());
            Set<Long> eos = new HashSet<>(model.decoder().descriptor().eosTokenIds());
            MixedLora mixed = options.loraMixing() == ServeOptions.LoraMixing.PER_ROW ? new MixedLora(model.decoder()) : null;
            try {
                SlotBackend engine = mixed != null ? new InPlaceBackend(model.decoder(), mixed.session()) : new InPlaceBackend(model.decoder());
                // one slot more than --batch-rows: scratch space for reordering rows by adapter
                b = new LiveBatcher(engine.open(options.batchRows() + 1, contextLength), mixed, tokenizer, eos,
                        model.decoder().descriptor().vocabSize(), options.maxQueue());
            } catch (Exception | Error e) {
                if (mixed != null) mixed.close();
                throw e;
            }
            // Streamed events are small writes: without TCP_NODELAY, Nagle's algorithm holds each one back while the
            // previous is unacknowledged (a round trip per event on a real network). The JDK's server reads this
            // once, when its first server starts; a value the user set is kept.
            if (System.getProperty("sun.net.httpserver.nodelay") == null) System.setProperty("sun.net.httpserver.nodelay", "true");
            server = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 128);
        } catch (Exception | Error e) {
            if (b != null) b.close();
            registry.close();
            throw e;
        }
        this.adapters = registry;
        this.batcher = b;
        this.http = server;
        this.executor = Executors.newVirtualThreadPerTaskExecutor();
        http.setExecutor(executor);
        http.createContext("/", this::handle);
        http.start();
    }

    /** Starts serving {@code model} and the named adapters on {@code options.host():options.port()} (port 0: any free port). */
    public static OpenAiServer start(ServeOptions options, LoadedModel model, Map<String, Path> adapters) throws Exception {
        return new OpenAiServer(options, model, adapters);
    }

    public int port() { return http.getAddress().getPort(); }

    public String baseUrl() { return "http://" + options.host() + ":" + port(); }

    /** Bytes of the KV cache slots, allocated once at start: (batch rows + 1) × context × layers × 2 × kv heads × head dim × 4. */
    public long kvCacheBytes() {
        var d = model.decoder().descriptor();
        return (options.batchRows() + 1L) * contextLength * d.numLayers() * 2L * d.numKeyValueHeads() * d.headDim() * Float.BYTES;
    }

    /** Requests in the batcher, queued or running (0 when idle): tests check that nothing leaks. */
    public int busy() { return batcher.jobs(); }

    /** Steps that decoded rows of several models (base or adapters) together, so far. */
    public long mixedSteps() { return batcher.counts().mixedSteps(); }

    /** Decode steps so far (all rows of a step in one engine call, or one call per adapter when grouped). */
    public long decodeSteps() { return batcher.counts().steps(); }

    // ---------------------------------------------------------------- routing

    private void handle(HttpExchange ex) {
        try (ex) {
            try {
                route(ex);
            } catch (ApiException e) {
                if (e.status == 429 || e.status == 413 || e.status == 401) metrics.rejected.labelValues(String.valueOf(e.status)).inc();
                sendError(ex, e);
            } catch (IOException e) {
                // the client went away while we wrote: nothing to answer
            } catch (Exception | Error e) {
                // A bug: the client gets a one-line error, never a stack trace; the log gets the trace.
                System.err.println("tina serve: internal error on " + ex.getRequestMethod() + " " + ex.getRequestURI().getPath());
                e.printStackTrace();
                sendError(ex, new ApiException(500, "server_error", null, null, "internal error: " + e.getClass().getSimpleName()));
            }
        }
    }

    private void route(HttpExchange ex) throws Exception {
        String path = ex.getRequestURI().getPath(), method = ex.getRequestMethod();
        if (path.equals("/health")) {
            require(method, "GET", ex);
            sendJson(ex, 200, JSON.createObjectNode().put("status", "ok"));
            return;
        }
        if (path.equals("/") || path.equals("/index.html")) {
            // the page holds no data; it asks for the API key itself when the server has one
            require(method, "GET", ex);
            page(ex);
            return;
        }
        authorize(ex);
        switch (path) {
            case "/metrics" -> {
                require(method, "GET", ex);
                byte[] body = metrics.scrape(batcher.queued(), batcher.activeRows(), batcher.capacity());
                send(ex, 200, metrics.contentType(), body);
            }
            case "/v1/models" -> {
                require(method, "GET", ex);
                models(ex);
            }
            case "/v1/chat/completions" -> {
                require(method, "POST", ex);
                generate(ex, true);
            }
            case "/v1/completions" -> {
                require(method, "POST", ex);
                generate(ex, false);
            }
            case "/v1/load_lora_adapter" -> {
                require(method, "POST", ex);
                loadAdapter(ex);
            }
            case "/v1/unload_lora_adapter" -> {
                require(method, "POST", ex);
                unloadAdapter(ex);
            }
            default -> throw new ApiException(404, "not_found_error", null, "not_found", "no route " + method + " " + path);
        }
    }

    private static void require(String method, String expected, HttpExchange ex) throws ApiException {
        if (!method.equals(expected)) {
            throw new ApiException(405, "invalid_request_error", null, "method_not_allowed",
                    ex.getRequestURI().getPath() + " takes " + expected + ", not " + method);
        }
    }

    private void authorize(HttpExchange ex) throws ApiException {
        if (options.apiKey() == null) return;
        String h = ex.getRequestHeaders().getFirst("Authorization");
        String given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).trim() : null;
        // constant-time comparison: the key's bytes do not leak through timing
        if (given == null || !MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), options.apiKey().getBytes(StandardCharsets.UTF_8))) {
            throw new ApiException(401, "authentication_error", null, "invalid_api_key",
                    given == null ? "missing API key: send 'Authorization: Bearer KEY'" : "incorrect API key");
        }
    }

    // ---------------------------------------------------------------- models and adapters

    private void models(HttpExchange ex) throws IOException {
        ObjectNode out = JSON.createObjectNode().put("object", "list");
        ArrayNode data = out.putArray("data");
        for (AdapterRegistry.Info e : adapters.list()) {
            ObjectNode m = data.addObject().put("id", e.name()).put("object", "model").put("created", e.created()).put("owned_by", "tina");
            m.put("root", e.isBase() ? model.exportDir().toString() : e.dir().toString());
            if (e.isBase()) m.putNull("parent");
            else m.put("parent", adapters.baseName());
            ObjectNode meta = m.putObject("tina");
            meta.put("kind", e.isBase() ? "base" : "lora");
            meta.put("content_hash", e.hash());
            if (!e.isBase()) meta.put("rank", e.rank()).put("loaded", e.loaded());
            m.put("max_model_len", contextLength);
        }
        sendJson(ex, 200, out);
    }

    private void loadAdapter(HttpExchange ex) throws Exception {
        if (!options.allowRuntimeLora()) {
            throw new ApiException(404, "not_found_error", null, "runtime_lora_disabled",
                    "runtime adapter loading is off: start the server with --allow-runtime-lora --lora-root DIR");
        }
        JsonNode body = readBody(ex);
        String name = requiredString(body, "lora_name"), given = requiredString(body, "lora_path");
        Path dir;
        try {
            Path p = loraRoot.resolve(given).normalize();
            dir = p.startsWith(loraRoot) && Files.isDirectory(p) ? p.toRealPath() : null;
        } catch (IOException | RuntimeException e) {
            dir = null;
        }
        // symbolic links are resolved first, so a link under the root cannot lead outside it
        if (dir == null || !dir.startsWith(loraRoot)) {
            throw ApiException.invalid("lora_path", "lora_path '" + given + "' is not an adapter folder under the server's --lora-root");
        }
        AdapterRegistry.Entry e;
        try {
            e = adapters.add(name, dir);
        } catch (IllegalArgumentException | IOException | CheckpointFormatException err) {
            throw ApiException.invalid("lora_path", "cannot load adapter '" + name + "': " + err.getMessage());
        }
        metrics.register(name);
        sendJson(ex, 200, JSON.createObjectNode().put("status", "ok").put("lora_name", name).put("content_hash", e.hash).put("rank", e.rank));
    }

    private void unloadAdapter(HttpExchange ex) throws Exception {
        if (!options.allowRuntimeLora()) {
            throw new ApiException(404, "not_found_error", null, "runtime_lora_disabled",
                    "runtime adapter loading is off: start the server with --allow-runtime-lora --lora-root DIR");
        }
        String name = requiredString(readBody(ex), "lora_name");
        if (!adapters.remove(name)) throw new ApiException(404, "not_found_error", "lora_name", "model_not_found", "no adapter named '" + name + "'");
        sendJson(ex, 200, JSON.createObjectNode().put("status", "ok").put("lora_name", name));
    }

    // ---------------------------------------------------------------- generation

    /** A parsed generation request. */
    private record Gen(String model, long[] prompt, SamplingParams params, boolean stream, boolean includeUsage, boolean logprobs,
                       int topLogprobs, boolean ignoreEos) { }

    private void generate(HttpExchange ex, boolean chat) throws Exception {
        JsonNode body = readBody(ex);
        String modelName = requiredString(body, "model");
        AdapterRegistry.Lease lease = adapters.acquire(modelName);
        if (lease == null) {
            throw new ApiException(404, "not_found_error", "model", "model_not_found",
                    "the model '" + modelName + "' does not exist; GET /v1/models lists the base model and the adapters");
        }
        boolean submitted = false;
        try {
            Gen g = parse(body, chat, modelName);
            RequestRun run = new RequestRun(g, lease, chat);
            LiveBatcher.Job job = new LiveBatcher.Job(g.prompt(), g.params(), lease.binding(), lease.group(), g.topLogprobs(), g.ignoreEos(), run);
            run.job = job;
            metrics.running.labelValues(modelName).inc(); // before the batcher can finish it
            if (!batcher.submit(job)) {
                metrics.running.labelValues(modelName).dec();
                throw new ApiException(429, "rate_limit_error", null, "queue_full",
                        "the server's queue is full (" + options.maxQueue() + " waiting requests, --max-queue); retry later");
            }
            submitted = true;
            metrics.promptTokens.labelValues(modelName).inc(g.prompt().length);
            if (g.stream()) run.stream(ex);
            else run.respond(ex);
        } finally {
            if (!submitted) adapters.release(lease);
        }
    }

    private Gen parse(JsonNode b, boolean chat, String modelName) throws ApiException {
        long[] prompt;
        if (chat) {
            JsonNode msgs = b.get("messages");
            if (msgs == null || !msgs.isArray() || msgs.isEmpty()) throw ApiException.invalid("messages", "'messages' must be a non-empty array");
            if (template == null) throw ApiException.invalid("messages", "the model has no chat template; use /v1/completions");
            List<ChatMessage> list = new ArrayList<>();
            for (int i = 0; i < msgs.size(); i++) {
                JsonNode m = msgs.get(i);
                if (!m.isObject() || !m.path("role").isTextual()) throw ApiException.invalid("messages[" + i + "].role", "each message needs a string 'role'");
                list.add(new ChatMessage(m.get("role").asText(), content(m.get("content"), "messages[" + i + "].content")));
            }
            String rendered;
            try {
                rendered = template.render(list, true);
            } catch (RuntimeException e) {
                throw ApiException.invalid("messages", "the chat template refused the messages: " + e.getMessage());
            }
            prompt = tokenizer.encode(rendered);
        } else {
            prompt = completionPrompt(b.get("prompt"));
        }
        if (prompt.length == 0) throw ApiException.invalid(chat ? "messages" : "prompt", "the prompt is empty");
        int vocab = model.decoder().descriptor().vocabSize();
        for (long id : prompt) if (id < 0 || id >= vocab) throw ApiException.invalid("prompt", "token id " + id + " outside [0, " + vocab + ")");
        for (String unsupported : List.of("tools", "functions", "tool_choice", "logit_bias", "suffix")) {
            JsonNode v = b.get(unsupported);
            if (v != null && !v.isNull() && !(v.isContainerNode() && v.isEmpty()) && !(v.isTextual() && (v.asText().isEmpty() || v.asText().equals("none")))) {
                throw ApiException.invalid(unsupported, "'" + unsupported + "' is not supported by tina serve");
            }
        }
        for (String penalty : List.of("frequency_penalty", "presence_penalty")) {
            Double v = optNumber(b, penalty);
            if (v != null && v != 0) throw ApiException.invalid(penalty, "'" + penalty + "' is not supported by tina serve (only 0)");
        }
        if (Boolean.TRUE.equals(optBool(b, "echo"))) throw ApiException.invalid("echo", "'echo' is not supported by tina serve");
        Long best = optInt(b, "best_of");
        if (best != null && best > 1) throw ApiException.invalid("best_of", "'best_of' is not supported by tina serve");
        JsonNode rf = b.get("response_format");
        if (rf != null && !rf.isNull() && !"text".equals(rf.path("type").asText("text"))) {
            throw ApiException.invalid("response_format", "only response_format 'text' is supported");
        }

        Long maxTokens = optInt(b, "max_completion_tokens");
        String maxParam = "max_completion_tokens";
        if (maxTokens == null) {
            maxTokens = optInt(b, "max_tokens");
            maxParam = "max_tokens";
        }
        String promptParam = chat ? "messages" : "prompt";
        if (prompt.length >= contextLength) {
            throw new ApiException(400, "invalid_request_error", promptParam, "context_length_exceeded",
                    "the prompt has " + prompt.length + " tokens; the model's context is " + contextLength + " tokens");
        }
        if (maxTokens != null) {
            if (maxTokens < 1) throw ApiException.invalid(maxParam, "'" + maxParam + "' must be >= 1, got " + maxTokens);
            if (prompt.length + maxTokens > contextLength) {
                throw new ApiException(400, "invalid_request_error", maxParam, "context_length_exceeded",
                        "the prompt has " + prompt.length + " tokens and " + maxParam + " is " + maxTokens + ": " + (prompt.length + maxTokens)
                                + " tokens, over the model's context of " + contextLength);
            }
        } else {
            long fallback = defaults.maxNewTokens() != null ? defaults.maxNewTokens() : 256;
            maxTokens = Math.min(fallback, contextLength - prompt.length);
        }
        Double temperature = optNumber(b, "temperature"), topP = optNumber(b, "top_p"), minP = optNumber(b, "min_p");
        Long topK = optInt(b, "top_k"), n = optInt(b, "n"), seed = optInt(b, "seed");
        if (temperature != null && (temperature < 0 || temperature > 2)) throw ApiException.invalid("temperature", "'temperature' must be in [0, 2], got " + temperature);
        if (topP != null && !(topP > 0 && topP <= 1)) throw ApiException.invalid("top_p", "'top_p' must be in (0, 1], got " + topP);
        if (minP != null && !(minP >= 0 && minP < 1)) throw ApiException.invalid("min_p", "'min_p' must be in [0, 1), got " + minP);
        if (topK != null && topK < -1) throw ApiException.invalid("top_k", "'top_k' must be >= -1 (-1 or 0 = off), got " + topK);
        if (n != null && (n < 1 || n > MAX_N)) throw ApiException.invalid("n", "'n' must be in [1, " + MAX_N + "], got " + n);
        List<String> stops = stops(b.get("stop"));
        boolean sample = defaults.doSample();
        double t = temperature != null ? temperature : sample ? defaults.temperature() : 0;
        SamplingParams params;
        try {
            params = new SamplingParams(n == null ? 1 : n.intValue(), t, topP != null ? topP : sample ? defaults.topP() : 1.0,
                    topK != null ? (int) Math.max(0, topK) : sample ? defaults.topK() : 0, minP != null ? minP : sample ? defaults.minP() : 0.0,
                    maxTokens.intValue(), stops, new HashSet<>(defaults.eosTokenIds()),
                    seed != null ? seed : ThreadLocalRandom.current().nextLong());
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(null, e.getMessage());
        }
        Boolean stream = optBool(b, "stream");
        boolean includeUsage = false;
        JsonNode so = b.get("stream_options");
        if (so != null && !so.isNull()) {
            if (!so.isObject()) throw ApiException.invalid("stream_options", "'stream_options' must be an object");
            includeUsage = Boolean.TRUE.equals(optBool(so, "include_usage"));
        }
        boolean logprobs;
        int top;
        if (chat) {
            logprobs = Boolean.TRUE.equals(optBool(b, "logprobs"));
            Long k = optInt(b, "top_logprobs");
            if (k != null && (k < 0 || k > MAX_TOP_LOGPROBS)) throw ApiException.invalid("top_logprobs", "'top_logprobs' must be in [0, 20], got " + k);
            if (k != null && k > 0 && !logprobs) throw ApiException.invalid("top_logprobs", "'top_logprobs' needs 'logprobs': true");
            top = k == null ? 0 : k.intValue();
        } else {
            Long k = optInt(b, "logprobs");
            if (k != null && (k < 0 || k > MAX_TOP_LOGPROBS)) throw ApiException.invalid("logprobs", "'logprobs' must be in [0, 20], got " + k);
            logprobs = k != null;
            top = k == null ? 0 : k.intValue();
        }
        return new Gen(modelName, prompt, params, Boolean.TRUE.equals(stream), includeUsage, logprobs, top,
                Boolean.TRUE.equals(optBool(b, "ignore_eos")));
    }

    private static String content(JsonNode c, String param) throws ApiException {
        if (c == null || c.isNull()) return "";
        if (c.isTextual()) return c.asText();
        if (c.isArray()) {
            StringBuilder s = new StringBuilder();
            for (JsonNode part : c) {
                if (!"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiException.invalid(param, "only text content parts are supported");
                }
                s.append(part.get("text").asText());
            }
            return s.toString();
        }
        throw ApiException.invalid(param, "'content' must be a string or an array of text parts");
    }

    private long[] completionPrompt(JsonNode p) throws ApiException {
        if (p == null || p.isNull()) throw ApiException.invalid("prompt", "'prompt' is required");
        if (p.isTextual()) return tokenizer.encode(p.asText());
        if (p.isArray() && p.size() == 1 && (p.get(0).isTextual() || p.get(0).isArray())) return completionPrompt(p.get(0));
        if (p.isArray() && !p.isEmpty() && p.get(0).isIntegralNumber()) {
            long[] ids = new long[p.size()];
            for (int i = 0; i < ids.length; i++) {
                if (!p.get(i).isIntegralNumber()) throw ApiException.invalid("prompt", "a token-id prompt must hold integers only");
                ids[i] = p.get(i).asLong();
            }
            return ids;
        }
        if (p.isArray() && p.size() > 1) throw ApiException.invalid("prompt", "one prompt per request (send several requests; they are batched together)");
        throw ApiException.invalid("prompt", "'prompt' must be a string or an array of token ids");
    }

    private static List<String> stops(JsonNode s) throws ApiException {
        if (s == null || s.isNull()) return List.of();
        if (s.isTextual()) return s.asText().isEmpty() ? List.of() : List.of(s.asText());
        if (s.isArray()) {
            List<String> out = new ArrayList<>();
            for (JsonNode x : s) {
                if (!x.isTextual()) throw ApiException.invalid("stop", "'stop' must be a string or an array of strings");
                if (!x.asText().isEmpty()) out.add(x.asText());
            }
            return out;
        }
        throw ApiException.invalid("stop", "'stop' must be a string or an array of strings");
    }

    private static Long optInt(JsonNode b, String f) throws ApiException {
        JsonNode v = b.get(f);
        if (v == null || v.isNull()) return null;
        if (v.isIntegralNumber() && v.canConvertToLong()) return v.asLong();
        if (v.isFloatingPointNumber() && v.asDouble() == Math.rint(v.asDouble()) && Math.abs(v.asDouble()) < 1e15) return (long) v.asDouble();
        throw ApiException.invalid(f, "'" + f + "' must be an integer, got " + v.getNodeType().name().toLowerCase(Locale.ROOT) + " " + v);
    }

    private static Double optNumber(JsonNode b, String f) throws ApiException {
        JsonNode v = b.get(f);
        if (v == null || v.isNull()) return null;
        if (!v.isNumber()) throw ApiException.invalid(f, "'" + f + "' must be a number, got " + v);
        return v.asDouble();
    }

    private static Boolean optBool(JsonNode b, String f) throws ApiException {
        JsonNode v = b.get(f);
        if (v == null || v.isNull()) return null;
        if (!v.isBoolean()) throw ApiException.invalid(f, "'" + f + "' must be a boolean, got " + v);
        return v.asBoolean();
    }

    private static String requiredString(JsonNode b, String f) throws ApiException {
        JsonNode v = b.get(f);
        if (v == null || v.isNull()) throw ApiException.invalid(f, "'" + f + "' is required");
        if (!v.isTextual()) throw ApiException.invalid(f, "'" + f + "' must be a string, got " + v);
        return v.asText();
    }

    /**
     * One generation request in flight: hears the batcher's events (on its threads) and hands
     * them to the exchange's virtual thread through a queue.
     */
    private final class RequestRun implements LiveBatcher.Listener {
        private sealed interface Event permits Tok, Done, Fail { }
        private record Tok(int sample, long id, float logprob, LiveBatcher.Top top) implements Event { }
        private record Done(int sample, Completion c) implements Event { }
        private record Fail(String message) implements Event { }

        final Gen g;
        final AdapterRegistry.Lease lease;
        final boolean chat;
        final String id, fingerprint;
        final long created = System.currentTimeMillis() / 1000, arrived = System.nanoTime();
        final Mailbox<Event> events = new Mailbox<>();
        /** Per sample: tokens so far (each sample's tokens come from one batcher thread per step). */
        private final int[] sampleTokens;
        /** This request's series, looked up once instead of once per token. */
        private final CounterDataPoint generated;
        /** Per sample: the token chunk without log-probs around its text (built at the first token, streaming only). */
        private TokenChunk[] tokenChunks;
        volatile long firstToken;
        LiveBatcher.Job job;
        private final AtomicInteger finishedSamples = new AtomicInteger();
        private volatile boolean failed;

        RequestRun(Gen g, AdapterRegistry.Lease lease, boolean chat) {
            this.g = g;
            this.lease = lease;
            this.chat = chat;
            this.id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
            this.fingerprint = "tina-" + baseHash.substring(0, Math.min(12, baseHash.length()))
                    + (lease.entry().isBase() ? "" : "-" + lease.hash().substring(0, 12));
            this.generated = metrics.generationTokens.labelValues(g.model());
            this.sampleTokens = new int[g.params().n()];
        }

        @Override
        public void token(int sample, long tokenId, float logprob, LiveBatcher.Top top) {
            if (firstToken == 0) {
                synchronized (this) {
                    if (firstToken == 0) {
                        long now = System.nanoTime();
                        firstToken = now;
                        metrics.ttft.labelValues(g.model()).observe((now - arrived) / 1e9);
                    }
                }
            }
            generated.inc();
            if (g.stream()) {
                // the first token at once (time to first token), then every --stream-interval tokens
                int k = ++sampleTokens[sample];
                events.add(new Tok(sample, tokenId, logprob, top), k == 1 || k % options.streamInterval() == 0);
            } else if (g.logprobs()) {
                events.add(new Tok(sample, tokenId, logprob, top), false); // read when the answer is complete
            }
            // a non-streaming answer without log-probs needs only the finished samples
        }

        @Override
        public void finished(int sample, Completion c) {
            if (c.tokenIds().length > 1) {
                metrics.perToken.labelValues(g.model()).observe((System.nanoTime() - firstToken) / 1e9 / (c.tokenIds().length - 1));
            }
            finishedSamples.incrementAndGet();
            events.add(new Done(sample, c), true);
        }

        @Override
        public void failed(String message) {
            failed = true;
            events.add(new Fail(message), true);
        }

        @Override
        public void closed() {
            adapters.release(lease);
            metrics.running.labelValues(g.model()).dec();
            String outcome = finishedSamples.get() == g.params().n() ? "ok" : failed ? "failed" : "cancelled";
            metrics.requests.labelValues(g.model(), outcome).inc();
        }

        private ObjectNode head(String object) {
            ObjectNode o = JSON.createObjectNode();
            o.put("id", id).put("object", object).put("created", created).put("model", g.model()).put("system_fingerprint", fingerprint);
            return o;
        }

        private ObjectNode usage(int completionTokens) {
            ObjectNode u = JSON.createObjectNode();
            u.put("prompt_tokens", g.prompt().length).put("completion_tokens", completionTokens)
                    .put("total_tokens", g.prompt().length + completionTokens);
            return u;
        }

        /** Non-streaming: waits for every sample, then answers with one object. */
        /**
         * Non-streaming: waits for every sample, then answers with one object. The JDK's server
         * says nothing when a client goes away, and only a failed write does: so a request still
         * running after {@link #HEARTBEAT_NANOS} gets its 200 and headers, then a space every
         * heartbeat before the JSON (leading whitespace is valid JSON, as S3 does for long
         * requests), and a failed write frees its slots within about two heartbeats.
         */
        void respond(HttpExchange ex) throws Exception {
            int n = g.params().n();
            Completion[] done = new Completion[n];
            List<List<Tok>> toks = new ArrayList<>();
            for (int i = 0; i < n; i++) toks.add(new ArrayList<>());
            OutputStream early = null;
            long nextBeat = System.nanoTime() + HEARTBEAT_NANOS;
            try {
                for (int left = n; left > 0; ) {
                    Event e = events.take(Math.max(1, nextBeat - System.nanoTime()));
                    if (e == null) {
                        if (early == null) {
                            ex.getResponseHeaders().set("Content-Type", "application/json");
                            ex.sendResponseHeaders(200, 0);
                            early = ex.getResponseBody();
                        }
                        early.write(' ');
                        early.flush();
                        nextBeat = System.nanoTime() + HEARTBEAT_NANOS;
                        continue;
                    }
                    switch (e) {
                        case Tok t -> toks.get(t.sample()).add(t);
                        case Done d -> {
                            done[d.sample()] = d.c();
                            left--;
                        }
                        case Fail f -> {
                            batcher.cancel(job);
                            ApiException err = new ApiException(500, "server_error", null, null, f.message());
                            if (early == null) throw err;
                            early.write(JSON.writeValueAsBytes(errorObject(err))); // the status is sent already
                            return;
                        }
                    }
                }
            } catch (IOException gone) {
                batcher.cancel(job);
                throw gone;
            }
            ObjectNode o = head(chat ? "chat.completion" : "text_completion");
            ArrayNode choices = o.putArray("choices");
            int total = 0;
            for (int i = 0; i < n; i++) {
                Completion c = done[i];
                total += c.tokenIds().length;
                ObjectNode ch = choices.addObject().put("index", i);
                if (chat) {
                    ch.putObject("message").put("role", "assistant").put("content", c.text()).putNull("refusal");
                    if (g.logprobs()) ch.set("logprobs", chatLogprobs(toks.get(i)));
                    else ch.putNull("logprobs");
                } else {
                    ch.put("text", c.text());
                    if (g.logprobs()) ch.set("logprobs", completionLogprobs(toks.get(i), 0));
                    else ch.putNull("logprobs");
                }
                ch.put("finish_reason", c.finishReason().wire());
            }
            o.set("usage", usage(total));
            if (early == null) sendJson(ex, 200, o);
            else early.write(JSON.writeValueAsBytes(o));
        }

        /**
         * Streaming: server-sent events, ending in {@code data: [DONE]}: per choice one chunk with the text
         * (and log-probs) gained since its last chunk, written when the handler is woken (every token, or
         * every {@code --stream-interval} tokens) and merged when it falls behind.
         */
        void stream(HttpExchange ex) throws Exception {
            int n = g.params().n();
            int holdBack = 0;
            for (String s : g.params().stopStrings()) holdBack = Math.max(holdBack, s.length() - 1);
            // each sample's text grows by a short window's decoding per token, not the whole sequence's
            IncrementalDetokenizer[] texts = new IncrementalDetokenizer[n];
            for (int i = 0; i < n; i++) texts[i] = new IncrementalDetokenizer(tokenizer, true);
            int[] emitted = new int[n], textOffset = new int[n];
            ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
            ex.getResponseHeaders().set("Cache-Control", "no-cache");
            ex.sendResponseHeaders(200, 0);
            OutputStream out = ex.getResponseBody();
            try {
                if (chat) {
                    for (int i = 0; i < n; i++) {
                        ObjectNode c = chunk();
                        ObjectNode ch = ((ArrayNode) c.get("choices")).addObject().put("index", i);
                        ch.putObject("delta").put("role", "assistant").put("content", "");
                        ch.putNull("logprobs");
                        ch.putNull("finish_reason");
                        write(out, c);
                    }
                }
                int total = 0;
                // what each sample gained since its last event: written as one event per sample once the
                // mailbox is empty, so a handler that falls behind sends fewer, larger events (as vLLM merges)
                StringBuilder[] pendingText = new StringBuilder[n];
                int[] pendingCount = new int[n];
                List<List<Tok>> pendingToks = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    pendingText[i] = new StringBuilder();
                    pendingToks.add(new ArrayList<>());
                }
                for (int left = n; left > 0; ) {
                    Event e = events.poll();
                    if (e == null) {
                        for (int i = 0; i < n; i++) {
                            // the first event at once (nothing sent yet: all seen tokens pending), then at the tokens the
                            // batcher wakes us for (every interval-th), or once a whole interval waits; another choice's
                            // wake-up may come before this one's tokens
                            int every = options.streamInterval();
                            int seen = texts[i].tokenCount();
                            if (pendingCount[i] > 0 && (seen == pendingCount[i] || seen % every == 0 || pendingCount[i] >= every)) {
                                writePending(out, i, pendingText, pendingToks, textOffset);
                                pendingCount[i] = 0;
                            }
                        }
                        out.flush();
                        e = events.take(0);
                    }
                    switch (e) {
                        case Tok t -> {
                            int s = t.sample();
                            texts[s].append(t.id());
                            CharSequence full = texts[s].text();
                            int safe = full.length() - holdBack;
                            for (String stop : g.params().stopStrings()) {
                                // an occurrence cannot start in what was sent: the hold-back kept its start unsent
                                int at = texts[s].indexOf(stop, emitted[s]);
                                if (at >= 0) safe = Math.min(safe, at); // never stream the stop string itself
                            }
                            if (safe > emitted[s]) {
                                pendingText[s].append(full, emitted[s], safe);
                                emitted[s] = safe;
                            }
                            if (g.logprobs()) pendingToks.get(s).add(t);
                            pendingCount[s]++;
                        }
                        case Done d -> {
                            int s = d.sample();
                            writePending(out, s, pendingText, pendingToks, textOffset);
                            String text = d.c().text() == null ? "" : d.c().text();
                            String sent = texts[s].text().subSequence(0, emitted[s]).toString();
                            String rest = text.startsWith(sent) ? text.substring(sent.length()) : "";
                            total += d.c().tokenIds().length;
                            write(out, deltaChunk(s, rest, null, textOffset[s], d.c().finishReason().wire()));
                            left--;
                        }
                        case Fail f -> {
                            batcher.cancel(job);
                            write(out, errorObject(new ApiException(500, "server_error", null, null, f.message())));
                            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                            out.flush();
                            return;
                        }
                    }
                }
                if (g.includeUsage()) {
                    ObjectNode u = chunk();
                    u.set("usage", usage(total));
                    write(out, u);
                }
                out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                // the client went away: free its slots before the next step
                batcher.cancel(job);
                throw e;
            }
        }

        /** One event with what sample {@code s} gained since its last one (nothing when it gained nothing). */
        private void writePending(OutputStream out, int s, StringBuilder[] text, List<List<Tok>> toks, int[] textOffset) throws IOException {
            List<Tok> lps = toks.get(s);
            if (text[s].isEmpty() && lps.isEmpty()) return;
            String delta = text[s].toString();
            if (g.logprobs()) write(out, deltaChunk(s, delta, List.copyOf(lps), textOffset[s], null));
            else tokenChunk(s).write(out, delta);
            textOffset[s] += delta.length();
            text[s].setLength(0);
            lps.clear();
        }

        /** The chunk of one token of sample {@code s} without log-probs, as {@link #deltaChunk} writes it (only the text escaped per token). */
        private TokenChunk tokenChunk(int s) throws IOException {
            if (tokenChunks == null) tokenChunks = new TokenChunk[g.params().n()];
            if (tokenChunks[s] == null) {
                tokenChunks[s] = TokenChunk.of(JSON.writeValueAsString(deltaChunk(s, "", null, 0, null)), chat ? "\"content\":\"\"" : "\"text\":\"\"");
            }
            return tokenChunks[s];
        }

        private ObjectNode chunk() {
            ObjectNode c = head(chat ? "chat.completion.chunk" : "text_completion");
            c.putArray("choices");
            if (g.includeUsage()) c.putNull("usage");
            return c;
        }

        private ObjectNode deltaChunk(int sample, String text, List<Tok> lps, int offset, String finish) {
            ObjectNode c = chunk();
            ObjectNode ch = ((ArrayNode) c.get("choices")).addObject().put("index", sample);
            if (chat) {
                ObjectNode delta = ch.putObject("delta");
                if (!text.isEmpty() || finish == null) delta.put("content", text);
                if (lps != null) ch.set("logprobs", chatLogprobs(lps));
                else ch.putNull("logprobs");
            } else {
                ch.put("text", text);
                if (lps != null) ch.set("logprobs", completionLogprobs(lps, offset));
                else ch.putNull("logprobs");
            }
            if (finish == null) ch.putNull("finish_reason");
            else ch.put("finish_reason", finish);
            return c;
        }

        /** One server-sent event; the caller flushes. */
        private static void write(OutputStream out, ObjectNode o) throws IOException {
            out.write(("data: " + JSON.writeValueAsString(o) + "\n\n").getBytes(StandardCharsets.UTF_8));
        }

        private String piece(long id) { return tokenizer.decode(new long[]{id}, false); }

        private ObjectNode chatLogprobs(List<Tok> toks) {
            ObjectNode lp = JSON.createObjectNode();
            ArrayNode content = lp.putArray("content");
            for (Tok t : toks) {
                ObjectNode e = content.addObject();
                tokenEntry(e, t.id(), t.logprob());
                ArrayNode tops = e.putArray("top_logprobs");
                if (t.top() != null) {
                    for (int k = 0; k < t.top().ids().length && k < g.topLogprobs(); k++) {
                        tokenEntry(tops.addObject(), t.top().ids()[k], t.top().logprobs()[k]);
                    }
                }
            }
            lp.putNull("refusal");
            return lp;
        }

        private void tokenEntry(ObjectNode e, long id, float logprob) {
            String s = piece(id);
            e.put("token", s).put("logprob", logprob);
            ArrayNode bytes = e.putArray("bytes");
            for (byte x : s.getBytes(StandardCharsets.UTF_8)) bytes.add(x & 0xff);
        }

        private ObjectNode completionLogprobs(List<Tok> toks, int offset) {
            ObjectNode lp = JSON.createObjectNode();
            ArrayNode tokens = lp.putArray("tokens"), values = lp.putArray("token_logprobs"), tops = lp.putArray("top_logprobs"),
                    offsets = lp.putArray("text_offset");
            for (Tok t : toks) {
                String s = piece(t.id());
                tokens.add(s);
                values.add(t.logprob());
                offsets.add(offset);
                offset += s.length();
                ObjectNode top = tops.addObject();
                if (t.top() != null) {
                    for (int k = 0; k < t.top().ids().length && k < g.topLogprobs(); k++) top.put(piece(t.top().ids()[k]), t.top().logprobs()[k]);
                }
            }
            return lp;
        }
    }

    // ---------------------------------------------------------------- I/O

    private JsonNode readBody(HttpExchange ex) throws IOException, ApiException {
        String len = ex.getRequestHeaders().getFirst("Content-Length");
        int limit = options.maxBodyBytes();
        if (len != null) {
            long declared;
            try {
                declared = Long.parseLong(len.trim());
            } catch (NumberFormatException e) {
                throw ApiException.invalid(null, "bad Content-Length header");
            }
            if (declared > limit) throw tooLarge(limit);
        }
        byte[] body;
        try (InputStream in = ex.getRequestBody()) {
            body = in.readNBytes(limit + 1);
        }
        if (body.length > limit) throw tooLarge(limit);
        JsonNode node;
        try {
            node = JSON.readTree(body);
        } catch (JacksonException e) {
            throw ApiException.invalid(null, "the body is not valid JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject()) throw ApiException.invalid(null, "the body must be a JSON object");
        return node;
    }

    private static ApiException tooLarge(int limit) {
        return new ApiException(413, "invalid_request_error", null, "request_too_large", "the body is over the server's limit of " + limit + " bytes");
    }

    private void page(HttpExchange ex) throws IOException {
        try (InputStream in = OpenAiServer.class.getResourceAsStream("index.html")) {
            if (in == null) throw new IOException("index.html missing from the jar");
            send(ex, 200, "text/html; charset=utf-8", in.readAllBytes());
        }
    }

    private static void sendJson(HttpExchange ex, int status, JsonNode body) throws IOException {
        send(ex, status, "application/json", JSON.writeValueAsBytes(body));
    }

    private static void send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    private static ObjectNode errorObject(ApiException e) {
        ObjectNode o = JSON.createObjectNode();
        ObjectNode err = o.putObject("error").put("message", e.getMessage()).put("type", e.type);
        if (e.param == null) err.putNull("param");
        else err.put("param", e.param);
        if (e.code == null) err.putNull("code");
        else err.put("code", e.code);
        return o;
    }

    private static void sendError(HttpExchange ex, ApiException e) {
        ObjectNode o = errorObject(e);
        try {
            // the body must be drained or the JDK server resets the connection before the client reads the answer
            ex.getRequestBody().skip(1L << 26);
        } catch (IOException ignored) {
            // nothing to drain
        }
        try {
            if (e.status == 401) ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
            sendJson(ex, e.status, o);
        } catch (IOException | RuntimeException ignored) {
            // headers already sent (a failed stream) or the client is gone
        }
    }

    @Override
    public void close() {
        http.stop(0);
        batcher.close();
        executor.shutdownNow();
        adapters.close();
    }
}
