package dev.tina.tools.serve;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;

/**
 * {@code /metrics} in Prometheus' text format, through Prometheus' own Java client (its histogram
 * and exposition code are maintained against the format; ours would drift). Per-model series are
 * created when a model is registered, so idle adapters show zeros instead of disappearing. The
 * client's standard JVM and process series come too ({@code process_resident_memory_bytes},
 * {@code jvm_memory_used_bytes}, threads, collections), which the load test reads from outside.
 */
final class ServeMetrics {
    static final List<String> OUTCOMES = List.of("ok", "cancelled", "failed");
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    final Counter requests = Counter.builder().name("tina_requests").help("finished generation requests by model and outcome")
            .labelNames("model", "outcome").register(registry);
    final Counter rejected = Counter.builder().name("tina_rejected_requests").help("requests refused before running, by HTTP status")
            .labelNames("status").register(registry);
    final Counter promptTokens = Counter.builder().name("tina_prompt_tokens").help("prompt tokens of admitted requests")
            .labelNames("model").register(registry);
    final Counter generationTokens = Counter.builder().name("tina_generation_tokens").help("generated tokens")
            .labelNames("model").register(registry);
    final Gauge running = Gauge.builder().name("tina_running_requests").help("requests in flight (queued or decoding)")
            .labelNames("model").register(registry);
    final Gauge queue = Gauge.builder().name("tina_queue_length").help("requests waiting for a slot").register(registry);
    final Gauge activeRows = Gauge.builder().name("tina_active_rows").help("KV cache slots decoding now").register(registry);
    final Gauge slots = Gauge.builder().name("tina_slots").help("KV cache slots (--batch-rows)").register(registry);
    final Histogram ttft = Histogram.builder().name("tina_time_to_first_token_seconds").help("time from arrival to the first token")
            .classicOnly().classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
            .labelNames("model").register(registry);
    final Histogram perToken = Histogram.builder().name("tina_time_per_output_token_seconds")
            .help("time per generated token after the first, per completion").classicOnly()
            .classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
            .labelNames("model").register(registry);

    ServeMetrics() {
        JvmMetrics.builder().register(registry);
    }

    /** Creates the model's series at zero. */
    void register(String model) {
        for (String o : OUTCOMES) requests.labelValues(model, o);
        promptTokens.labelValues(model);
        generationTokens.labelValues(model);
        running.labelValues(model);
        ttft.labelValues(model);
        perToken.labelValues(model);
    }

    byte[] scrape(int queued, int active, int capacity) throws IOException {
        queue.set(queued);
        activeRows.set(active);
        slots.set(capacity);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writer.write(out, registry.scrape());
        return out.toByteArray();
    }

    String contentType() { return writer.getContentType(); }
}
