package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.testsupport.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code tina serve} as users run it: the packaged jar in its own JVM (a bounded heap), its adapters
 * from folders, driven over the loopback from this JVM by the load test's external mode (random
 * good, bad and cancelled requests across the base model and both adapters), which reads the
 * server's idleness and memory from its {@code /metrics}; then stopped with SIGTERM.
 */
class ServeProcessIT {
    static final Pattern LISTENING = Pattern.compile("on (http://127\\.0\\.0\\.1:\\d+) ");

    @Test
    void aSeparateServerProcessSurvivesTheLoadTestAndStops(@TempDir Path tmp) throws Exception {
        Path model = Shared.REPO.resolve("onnx-models/tiny-reasoner");
        ModelConfig cfg = ModelConfig.read(model.resolve("config.json"));
        BenchServe.randomAdapter(tmp.resolve("a1"), cfg, 4, 1, 0.1);
        BenchServe.randomAdapter(tmp.resolve("a2"), cfg, 8, 2, 0.1);
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> command = new ArrayList<>(List.of(java.toString(), "-Xmx256m", "--enable-native-access=ALL-UNNAMED",
                "--add-modules", "jdk.incubator.vector", "-jar", System.getProperty("tina.app.jar", "target/tina.jar"), "serve",
                "--model", model.toString(), "--adapter", "a1=" + tmp.resolve("a1"), "--adapter", "a2=" + tmp.resolve("a2"), "--port", "0"));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().put("TINA_CACHE", tmp.resolve("cache").toString());
        Process server = pb.start();
        StringBuilder log = new StringBuilder();
        CompletableFuture<String> url = new CompletableFuture<>();
        Thread reader = Thread.ofVirtual().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    synchronized (log) {
                        log.append(line).append('\n');
                    }
                    Matcher m = LISTENING.matcher(line);
                    if (m.find()) url.complete(m.group(1));
                }
            } catch (Exception e) {
                url.completeExceptionally(e);
            }
            url.completeExceptionally(new IllegalStateException("the server exited before listening"));
        });
        try {
            String base = url.get(120, TimeUnit.SECONDS);
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> models = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString());
            JsonNode data = new ObjectMapper().readTree(models.body()).get("data");
            assertEquals(List.of("tiny-reasoner", "a1", "a2"), List.of(data.get(0).get("id").asText(), data.get(1).get("id").asText(),
                    data.get(2).get("id").asText()));
            Cli.Run r = Cli.tina("bench", "serve", "--model", model.toString(), "--url", base, "--load-seconds", "5", "--load-clients", "4");
            assertEquals(0, r.code(), r.out() + r.err() + log);
            assertTrue(r.out().contains("models [tiny-reasoner, a1, a2]") && r.out().contains(" 0 failed; back to idle: yes"), r.out());
            assertTrue(r.out().matches("(?s).*server RSS 0\\.\\d{3} GB.*"), "the server's memory read from its /metrics: " + r.out());
            server.destroy(); // SIGTERM, as a service manager stops it
            assertTrue(server.waitFor(30, TimeUnit.SECONDS), "stopped within 30 s of SIGTERM:\n" + log);
        } finally {
            server.destroyForcibly();
            reader.join(10_000);
        }
    }
}
