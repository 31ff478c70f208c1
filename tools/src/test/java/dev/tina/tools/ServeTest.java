package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.tools.serve.OpenAiServer;
import dev.tina.tools.serve.ServeOptions;
import dev.tina.training.ort.TrainingNatives;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code tina serve} through the official OpenAI Java SDK (and raw HTTP where the SDK has no
 * call): the embedded tiny model with two random adapters of different ranks.
 */
class ServeTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String PROMPT = "What is 12+30-5?";
    @TempDir static Path tmp;
    static Path model, loraRoot;
    static LoadedModel loaded;
    static OpenAiServer server;
    static OpenAIClient client;
    static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        TrainingNatives.install();
        model = Path.of("../onnx-models/tiny-reasoner").toAbsolutePath().normalize();
        loraRoot = tmp.resolve("loras");
        Files.createDirectories(loraRoot);
        ModelConfig cfg = ModelConfig.read(model.resolve("config.json"));
        BenchServe.randomAdapter(tmp.resolve("a1"), cfg, 4, 1, 0.1); // ranks differ
        BenchServe.randomAdapter(tmp.resolve("a2"), cfg, 8, 2, 0.1);
        BenchServe.randomAdapter(loraRoot.resolve("a3"), cfg, 2, 3, 0.1);
        loaded = LoadedModel.open(model, SessionSettings.of(SessionSettings.Device.CPU));
        Map<String, Path> adapters = new LinkedHashMap<>();
        adapters.put("a1", tmp.resolve("a1"));
        adapters.put("a2", tmp.resolve("a2"));
        server = OpenAiServer.start(ServeOptions.defaults("tiny").withRuntimeLora(loraRoot).withLimits(8, 64, 16), loaded, adapters);
        client = client(server, "none");
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) server.close();
        if (loaded != null) loaded.close();
    }

    static OpenAIClient client(OpenAiServer s, String key) {
        return OpenAIOkHttpClient.builder().baseUrl(s.baseUrl() + "/v1").apiKey(key).maxRetries(0).timeout(Duration.ofSeconds(60)).build();
    }

    static ChatCompletionCreateParams.Builder chat(String model, int maxTokens) {
        return ChatCompletionCreateParams.builder().model(model).addUserMessage(PROMPT).maxCompletionTokens(maxTokens);
    }

    static JsonNode generate(String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt", PROMPT));
        args.addAll(List.of(extra));
        Cli.Run r = GenerateCommandTest.tina(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        return JSON.readTree("[" + String.join(",", r.out().strip().split("\n")) + "]");
    }

    @Test
    void listsTheBaseModelAndEachAdapterWithItsContentHash() {
        List<Model> models = client.models().list().data();
        List<String> ids = models.stream().map(Model::id).toList();
        assertTrue(ids.containsAll(List.of("tiny", "a1", "a2")), ids.toString());
        JsonValue meta = models.stream().filter(m -> m.id().equals("a2")).findFirst().orElseThrow()._additionalProperties().get("tina");
        assertTrue(meta.toString().contains("content_hash"), meta.toString());
    }

    @Test
    void greedyChatEqualsTinaGenerateForTheBaseModelAndAnAdapter() throws Exception {
        for (String name : List.of("tiny", "a1")) {
            List<String> extra = new ArrayList<>(List.of("--chat", "--greedy", "--max-new-tokens", "40"));
            if (!name.equals("tiny")) extra.addAll(List.of("--adapter", tmp.resolve(name).toString()));
            JsonNode expected = generate(extra.toArray(String[]::new)).get(0);
            ChatCompletion c = client.chat().completions().create(chat(name, 40).temperature(0).build());
            assertEquals(expected.get("text").asText(), c.choices().get(0).message().content().orElse(""), name);
            assertEquals(expected.get("token_ids").size(), c.usage().orElseThrow().completionTokens(), name);
            assertEquals(expected.get("finish_reason").asText(), c.choices().get(0).finishReason().asString(), name);
            assertTrue(c.systemFingerprint().orElseThrow().startsWith("tina-"));
        }
        // the adapter changes the answer (a random one, large enough)
        assertNotEquals(client.chat().completions().create(chat("tiny", 40).temperature(0).build()).choices().get(0).message().content(),
                client.chat().completions().create(chat("a2", 40).temperature(0).build()).choices().get(0).message().content());
    }

    @Test
    void seededNSamplesAreReproducibleAndEqualTinaGenerate() throws Exception {
        JsonNode expected = generate("--n", "3", "--seed", "11", "--temperature", "1.0", "--top-p", "1", "--max-new-tokens", "30");
        CompletionCreateParams p = CompletionCreateParams.builder().model("tiny").prompt(PROMPT).n(3).seed(11).temperature(1.0).topP(1.0)
                .maxTokens(30).build();
        Completion first = client.completions().create(p), second = client.completions().create(p);
        for (int i = 0; i < 3; i++) {
            assertEquals(expected.get(i).get("text").asText(), first.choices().get(i).text());
            assertEquals(first.choices().get(i).text(), second.choices().get(i).text());
        }
    }

    @Test
    void streamingEqualsNonStreaming() {
        ChatCompletionCreateParams p = chat("a1", 50).n(2).seed(3).temperature(0.9).build();
        ChatCompletion whole = client.chat().completions().create(p);
        StringBuilder[] parts = {new StringBuilder(), new StringBuilder()};
        String[] finish = new String[2];
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(p)) {
            s.stream().forEach(ch -> ch.choices().forEach(c -> {
                c.delta().content().ifPresent(parts[(int) c.index()]::append);
                c.finishReason().ifPresent(f -> finish[(int) c.index()] = f.asString());
            }));
        }
        for (int i = 0; i < 2; i++) {
            assertEquals(whole.choices().get(i).message().content().orElse(""), parts[i].toString());
            assertEquals(whole.choices().get(i).finishReason().asString(), finish[i]);
        }
    }

    /** With stop strings: each sample cut at its first occurrence, streamed and not streamed alike, never streaming the stop string. */
    @Test
    void streamingWithStopStringsEqualsNonStreaming() {
        ChatCompletionCreateParams free = chat("tiny", 60).n(3).seed(5).temperature(1.0).build();
        String t0 = client.chat().completions().create(free).choices().getFirst().message().content().orElse("");
        assertTrue(t0.length() > 6, t0);
        String stop = t0.substring(t0.length() / 2, t0.length() / 2 + 2);
        ChatCompletionCreateParams p = chat("tiny", 60).n(3).seed(5).temperature(1.0).stop(stop).build();
        ChatCompletion whole = client.chat().completions().create(p);
        assertEquals(t0.substring(0, t0.indexOf(stop)), whole.choices().getFirst().message().content().orElse(""));
        assertEquals("stop", whole.choices().getFirst().finishReason().asString());
        StringBuilder[] parts = {new StringBuilder(), new StringBuilder(), new StringBuilder()};
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(p)) {
            s.stream().forEach(ch -> ch.choices().forEach(c -> c.delta().content().ifPresent(parts[(int) c.index()]::append)));
        }
        for (int i = 0; i < 3; i++) assertEquals(whole.choices().get(i).message().content().orElse(""), parts[i].toString(), "choice " + i);
    }

    @Test
    void streamingWithUsageEndsWithDone() throws Exception {
        String body = """
                {"model": "tiny", "prompt": "What", "max_tokens": 5, "temperature": 0, "stream": true,
                 "stream_options": {"include_usage": true}, "logprobs": 2}""";
        HttpResponse<String> r = post("/v1/completions", body, null);
        assertEquals(200, r.statusCode());
        List<String> events = r.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertEquals("[DONE]", events.getLast());
        JsonNode usage = JSON.readTree(events.get(events.size() - 2));
        assertEquals(0, usage.get("choices").size());
        assertEquals(5, usage.get("usage").get("completion_tokens").asInt());
        JsonNode firstTok = JSON.readTree(events.getFirst()).get("choices").get(0).get("logprobs");
        assertEquals(2, firstTok.get("top_logprobs").get(0).size());
    }

    @Test
    void mixedAdaptersInConcurrentRequestsEachEqualTheirSoloResult() throws Exception {
        assertMixedEqualSolo(server, client);
    }

    @Test
    void mixedAdaptersEqualTheirSoloResultInGroupedModeToo() throws Exception {
        Map<String, Path> adapters = new LinkedHashMap<>();
        adapters.put("a1", tmp.resolve("a1"));
        adapters.put("a2", tmp.resolve("a2"));
        ServeOptions o = ServeOptions.defaults("tiny").withLimits(8, 64, 16).withLoraMixing(ServeOptions.LoraMixing.GROUPED);
        try (OpenAiServer s = OpenAiServer.start(o, loaded, adapters)) {
            assertMixedEqualSolo(s, client(s, "none"));
        }
    }

    /** 12 concurrent requests over the base model and two adapters (different n, lengths, seeds) each equal their solo answer. */
    static void assertMixedEqualSolo(OpenAiServer s, OpenAIClient c) throws Exception {
        List<String> names = List.of("tiny", "a1", "a2", "a1", "tiny", "a2", "a2", "a1", "tiny", "a1", "a2", "tiny");
        List<ChatCompletionCreateParams> reqs = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) reqs.add(chat(names.get(i), 30 + 3 * i).seed(100 + i).temperature(0.8).n(1 + i % 3).build());
        List<List<String>> solo = new ArrayList<>();
        for (var r : reqs) solo.add(texts(c.chat().completions().create(r)));
        long before = s.mixedSteps();
        try (ExecutorService pool = Executors.newFixedThreadPool(names.size())) {
            List<Future<List<String>>> together = new ArrayList<>();
            for (var r : reqs) together.add(pool.submit((Callable<List<String>>) () -> texts(c.chat().completions().create(r))));
            for (int i = 0; i < reqs.size(); i++) assertEquals(solo.get(i), together.get(i).get(), "request " + i + " (" + names.get(i) + ")");
        }
        // steps did decode rows of several models together
        assertTrue(s.mixedSteps() > before, before + " -> " + s.mixedSteps());
    }

    static List<String> texts(ChatCompletion c) {
        return c.choices().stream().map(x -> x.message().content().orElse("")).toList();
    }

    @Test
    void runtimeLoadAndUnloadOnlyUnderTheLoraRoot() throws Exception {
        HttpResponse<String> r = post("/v1/load_lora_adapter", "{\"lora_name\": \"a3\", \"lora_path\": \"a3\"}", null);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(client.models().list().data().stream().anyMatch(m -> m.id().equals("a3")));
        assertTrue(client.chat().completions().create(chat("a3", 5).build()).choices().getFirst().message().content().isPresent());
        // outside the root: refused, whether relative or absolute
        for (String bad : List.of("../a1", tmp.resolve("a1").toString(), "/etc")) {
            HttpResponse<String> e = post("/v1/load_lora_adapter", JSON.createObjectNode().put("lora_name", "x").put("lora_path", bad).toString(), null);
            assertEquals(400, e.statusCode(), bad);
            assertEquals("lora_path", JSON.readTree(e.body()).get("error").get("param").asText());
        }
        assertEquals(200, post("/v1/unload_lora_adapter", "{\"lora_name\": \"a3\"}", null).statusCode());
        assertThrows(NotFoundException.class, () -> client.chat().completions().create(chat("a3", 5).build()));
        assertEquals(404, post("/v1/unload_lora_adapter", "{\"lora_name\": \"a3\"}", null).statusCode());
    }

    @Test
    void badInputGetsAnOpenAiErrorObjectAndTheRightStatus() throws Exception {
        assertError(post("/v1/chat/completions", "{\"model\": ", null), 400, null);
        assertError(post("/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": \"ten\"}", null),
                400, "max_tokens");
        assertError(post("/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": true}", null),
                400, "temperature");
        var ctx = assertThrows(BadRequestException.class, () -> client.chat().completions().create(chat("tiny", 1000).build()));
        assertEquals(400, ctx.statusCode());
        assertTrue(ctx.getMessage().contains("context"), ctx.getMessage());
        var nf = assertThrows(NotFoundException.class, () -> client.chat().completions().create(chat("nope", 5).build()));
        assertEquals(404, nf.statusCode());
        String big = "{\"model\": \"tiny\", \"prompt\": \"" + "x".repeat(2 << 20) + "\"}";
        assertError(post("/v1/completions", big, null), 413, null);
        assertError(post("/v1/completions", "[1, 2]", null), 400, null);
        // nothing else was affected
        assertEquals(200, post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"1+1\", \"max_tokens\": 3}", null).statusCode());
    }

    static void assertError(HttpResponse<String> r, int status, String param) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode e = JSON.readTree(r.body()).get("error");
        assertTrue(e.get("message").isTextual() && e.has("type") && e.has("param") && e.has("code"), r.body());
        if (param != null) assertEquals(param, e.get("param").asText());
        assertTrue(!r.body().contains("\tat "), "no stack trace: " + r.body());
    }

    static HttpResponse<String> post(String path, String body, String key) throws Exception {
        return post(server, path, body, key);
    }

    static HttpResponse<String> post(OpenAiServer s, String path, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUrl() + path)).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        if (key != null) b.header("Authorization", "Bearer " + key);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static String get(OpenAiServer s, String path, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUrl() + path));
        if (key != null) b.header("Authorization", "Bearer " + key);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    @Test
    void aClientThatDisconnectsFreesItsSlotAndMetricsReturnToIdle() throws Exception {
        String body = "{\"model\": \"a2\", \"prompt\": \"What\", \"max_tokens\": 240, \"ignore_eos\": true, \"stream\": true}";
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                    + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            out.flush();
            InputStream in = socket.getInputStream();
            String seen = "";
            while (!seen.contains("data: ")) seen += (char) in.read();
        }
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (server.busy() > 0 && System.nanoTime() < deadline) Thread.sleep(10);
        assertEquals(0, server.busy());
        String metrics = get(server, "/metrics", null);
        assertTrue(metrics.contains("tina_requests_total{model=\"a2\",outcome=\"cancelled\"}"), metrics);
        double generated = value(metrics, "tina_generation_tokens_total{model=\"a2\"}");
        assertTrue(generated >= 1, metrics);
        // idle adapters are listed too, and the queue is empty
        assertTrue(metrics.contains("tina_time_to_first_token_seconds_bucket{model=\"a1\""), metrics);
        assertEquals(0, value(metrics, "tina_queue_length"));
    }

    @Test
    void aNonStreamingClientThatDisconnectsFreesItsSlotsToo() throws Exception {
        // one row per decode step: 64 samples × 240 tokens are 15,360 steps, seconds of work however fast
        // the sampler gets, so the answer cannot come before a heartbeat finds the client gone
        ServeOptions o = ServeOptions.defaults("tiny").withLimits(8, 64, 1);
        Map<String, Path> adapters = Map.of("a1", tmp.resolve("a1"));
        try (OpenAiServer s = OpenAiServer.start(o, loaded, adapters)) {
            String body = "{\"model\": \"a1\", \"prompt\": \"What\", \"max_tokens\": 240, \"n\": 64, \"ignore_eos\": true}";
            long t0 = System.nanoTime();
            try (Socket socket = new Socket("127.0.0.1", s.port())) {
                socket.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                        + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
                socket.getOutputStream().flush();
                Thread.sleep(100);
            }
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (s.busy() > 0 && System.nanoTime() < deadline) Thread.sleep(10);
            assertEquals(0, s.busy());
            String m = get(s, "/metrics", null);
            assertEquals(1, value(m, "tina_requests_total{model=\"a1\",outcome=\"cancelled\"}"),
                    "freed after " + (System.nanoTime() - t0) / 1e9 + " s\n" + m.lines().filter(l -> l.contains("a1")).toList());
            assertTrue(value(m, "tina_generation_tokens_total{model=\"a1\"}") < 64 * 240, "cut short");
        }
    }

    /** A non-streaming answer that takes longer than a heartbeat (whitespace before its JSON) still parses in the SDK. */
    @Test
    void theSdkParsesALongNonStreamingAnswerAfterHeartbeats() {
        CompletionCreateParams p = CompletionCreateParams.builder().model("a1").prompt("What").n(64).maxTokens(200).temperature(1.0).seed(5)
                .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true)).build();
        long t0 = System.nanoTime();
        Completion c = client.completions().create(p);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(64, c.choices().size());
        assertEquals(64 * 200, c.usage().orElseThrow().completionTokens());
        assumeTrue(seconds > 0.6, "answered in " + seconds + " s, before the first heartbeat");
    }

    @Test
    void adaptersOverMaxLorasAreRebound_andOverMaxRankRefused() throws Exception {
        ServeOptions o = new ServeOptions("127.0.0.1", 0, null, "tiny", true, tmp, 1, 4, 16, 4, 4096, 1 << 20,
                ServeOptions.LoraMixing.GROUPED, 1);
        Map<String, Path> two = new LinkedHashMap<>();
        two.put("a1", tmp.resolve("a1"));
        two.put("a3", loraRoot.resolve("a3"));
        try (OpenAiServer s = OpenAiServer.start(o, loaded, two)) {
            OpenAIClient c = client(s, "none");
            List<String> first = new ArrayList<>();
            for (String name : List.of("a1", "a3", "a1", "a3")) first.add(texts(c.chat().completions().create(chat(name, 20).temperature(0).build())).getFirst());
            assertEquals(first.get(0), first.get(2));
            assertEquals(first.get(1), first.get(3));
            HttpResponse<String> r = post(s, "/v1/load_lora_adapter", "{\"lora_name\": \"big\", \"lora_path\": \"a2\"}", null);
            assertEquals(400, r.statusCode(), r.body());
            assertTrue(r.body().contains("rank 8, over --max-lora-rank 4"), r.body());
        }
    }

    /**
     * --stream-interval 4: the first token alone, then at most one event per 4 tokens per choice (fewer when
     * the handler merges), the same text as every token streamed and as the whole answer.
     */
    @Test
    void streamIntervalSendsFewerEventsWithTheSameText() throws Exception {
        String body = """
                {"model": "tiny", "prompt": "12+30=", "max_tokens": 40, "temperature": 1.0, "seed": 9, "n": 2, "stream": true,
                 "ignore_eos": true}""";
        String plain = body.replace("\"stream\": true", "\"stream\": false");
        JsonNode whole = JSON.readTree(post("/v1/completions", plain, null).body());
        try (OpenAiServer s = OpenAiServer.start(ServeOptions.defaults("tiny").withStreamInterval(4), loaded, Map.of())) {
            for (String b : List.of(body, plain)) assertEquals(200, post(s, "/v1/completions", b, null).statusCode());
            List<JsonNode> events = new ArrayList<>();
            for (String line : post(s, "/v1/completions", body, null).body().split("\n")) {
                if (line.startsWith("data: {")) events.add(JSON.readTree(line.substring(6)));
            }
            for (int i = 0; i < 2; i++) {
                StringBuilder text = new StringBuilder();
                int n = 0;
                for (JsonNode e : events) {
                    JsonNode c = e.get("choices").get(0);
                    if (c.get("index").asInt() != i) continue;
                    text.append(c.get("text").asText());
                    n++;
                }
                assertEquals(whole.get("choices").get(i).get("text").asText(), text.toString(), "choice " + i);
                // tokens 1, 2–4, 5–8, …, 37–40 and the finish: 12 events unless the handler merged some
                assertTrue(n >= 2 && n <= 1 + 40 / 4 + 1, n + " events for 40 tokens: the first, one per 4, the last");
            }
        }
    }

    static double value(String metrics, String series) {
        return metrics.lines().filter(l -> l.startsWith(series + " ")).mapToDouble(l -> Double.parseDouble(l.substring(series.length() + 1).trim()))
                .findFirst().orElse(-1);
    }

    @Test
    void apiKeyQueueLimitAndHealth() throws Exception {
        ServeOptions o = ServeOptions.defaults("tiny").withApiKey("sekret").withLimits(2, 1, 1);
        try (OpenAiServer s = OpenAiServer.start(o, loaded, Map.of())) {
            assertEquals("{\"status\":\"ok\"}", get(s, "/health", null));
            var e = assertThrows(UnauthorizedException.class, () -> client(s, "wrong").models().list());
            assertEquals(401, e.statusCode());
            assertEquals(401, post(s, "/v1/completions", "{}", null).statusCode());
            assertTrue(get(s, "/metrics", null).contains("invalid_api_key"));
            OpenAIClient ok = client(s, "sekret");
            assertEquals("tiny", ok.models().list().data().getFirst().id());
            // one slot, one queue place: of several concurrent long requests some get 429, the others finish
            String body = "{\"model\": \"tiny\", \"prompt\": \"What\", \"max_tokens\": 200, \"ignore_eos\": true}";
            try (ExecutorService pool = Executors.newFixedThreadPool(6)) {
                List<Future<HttpResponse<String>>> rs = new ArrayList<>();
                for (int i = 0; i < 6; i++) rs.add(pool.submit(() -> post(s, "/v1/completions", body, "sekret")));
                int ok200 = 0, busy = 0;
                for (var f : rs) {
                    HttpResponse<String> r = f.get();
                    if (r.statusCode() == 200) ok200++;
                    else {
                        assertError(r, 429, null);
                        busy++;
                    }
                }
                assertTrue(ok200 >= 1 && busy >= 1, ok200 + " ok, " + busy + " refused");
            }
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (s.busy() > 0 && System.nanoTime() < deadline) Thread.sleep(10);
            assertEquals(0, s.busy());
        }
    }

    /**
     * The page at / in a real headless browser (Debian's chromium and chromium-driver; skipped
     * when they are not installed): every model is ticked, one click streams all answers side by
     * side, and each equals the API's answer to the same request.
     */
    @Test
    void thePageStreamsEveryModelsAnswerSideBySide() throws Exception {
        Path chromium = Path.of("/usr/bin/chromium"), driverBin = Path.of("/usr/bin/chromedriver");
        assumeTrue(Files.isExecutable(chromium) && Files.isExecutable(driverBin), "needs apt-get install chromium chromium-driver");
        ChromeOptions o = new ChromeOptions();
        o.setBinary(chromium.toFile());
        o.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage");
        // the Debian driver directly: no Selenium Manager, nothing downloaded
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(driverBin.toFile()).usingAnyFreePort().build();
        ChromeDriver browser = new ChromeDriver(service, o);
        try {
            browser.get(server.baseUrl() + "/");
            List<String> ids = client.models().list().data().stream().map(Model::id).toList();
            await(() -> browser.findElements(By.cssSelector("input.model")).size() == ids.size());
            browser.findElement(By.id("run")).click();
            await(() -> browser.findElements(By.cssSelector(".column")).size() == ids.size()
                    && browser.findElements(By.cssSelector(".column")).stream().noneMatch(c -> "running".equals(c.getDomAttribute("data-state"))));
            for (WebElement col : browser.findElements(By.cssSelector(".column"))) {
                String model = col.getDomAttribute("data-model");
                assertEquals("done", col.getDomAttribute("data-state"), model);
                String expected = client.chat().completions().create(chat(model, 128).temperature(0).seed(0).build())
                        .choices().getFirst().message().content().orElse("");
                assertEquals(expected, col.findElement(By.cssSelector(".answer")).getDomProperty("textContent"), model);
            }
        } finally {
            browser.quit();
        }
    }

    static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out");
            Thread.sleep(50);
        }
    }

    /** The load test's short variant (the 10-minute one is a documented command): random good, bad and cancelled requests, nothing fails or leaks. */
    @Test
    void aShortLoadTestFailsNothingAndReturnsToIdle() {
        Cli.Run r = GenerateCommandTest.tina("bench", "serve", "--model", model.toString(), "--load-only", "--load-seconds", "4",
                "--load-clients", "4", "--adapters", "2", "--rank", "2");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("0 failed; back to idle: yes"), r.out());
    }

    @Test
    void benchServeComparesWithTheSamplerAfterWarmingUp() {
        Cli.Run r = GenerateCommandTest.tina("bench", "serve", "--model", model.toString(), "--sections", "a", "--requests", "4",
                "--new-tokens", "4", "--repeats", "2", "--warmup", "1", "--adapters", "0");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("warm-up: 1 round of (a)'s three paths (--warmup 1)"), r.out());
        assertTrue(r.out().contains("(a) the median of the 2 repeats' own ratios"), r.out());
        r = GenerateCommandTest.tina("bench", "serve", "--model", model.toString(), "--warmup", "soon");
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("tina bench serve: error: --warmup soon: expected auto or a number of rounds >= 0", r.err().strip());
    }

    @Test
    void badCommandLinesAreOneLineErrors() {
        Cli.Run r = GenerateCommandTest.tina("serve", "--model", model.toString(), "--allow-runtime-lora");
        assertEquals(2, r.code());
        assertTrue(r.err().strip().equals("tina serve: error: --allow-runtime-lora needs --lora-root DIR: runtime loading reads only folders under it"),
                r.err());
        r = GenerateCommandTest.tina("serve", "--model", model.toString(), "--adapter", "nodir");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--adapter must be NAME=DIR, got 'nodir'"), r.err());
        r = GenerateCommandTest.tina("serve", "--model", model.toString(), "--adapter", "x=" + tmp.resolve("missing"));
        assertEquals(2, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }
}
