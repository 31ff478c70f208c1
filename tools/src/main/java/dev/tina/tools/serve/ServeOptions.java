package dev.tina.tools.serve;

import java.nio.file.Path;

/**
 * How {@code tina serve} runs. {@code apiKey} null: no key; {@code loraRoot} must be given with
 * {@code allowRuntimeLora} (runtime loading reads only folders under it); {@code maxModelLen}
 * bounds the KV cache length per row (and so prompt + max_tokens); {@code streamInterval}: a stream's
 * event every that many tokens per choice (the first token at once), vLLM's {@code --stream-interval}.
 */
public record ServeOptions(String host, int port, String apiKey, String servedModelName, boolean allowRuntimeLora, Path loraRoot,
                           int maxLoras, int maxLoraRank, int maxQueue, int batchRows, int maxModelLen, int maxBodyBytes, LoraMixing loraMixing,
                           int streamInterval) {
    /** How rows of different adapters share a decode step (docs/serve.md, Design). */
    public enum LoraMixing {
        /** One engine call for all rows: the adapters' factors stacked, each row's scale on its own adapter's columns. */
        PER_ROW,
        /** Rows ordered by adapter, one engine call per adapter present. */
        GROUPED;

        public static LoraMixing parse(String s) {
            return switch (s) {
                case "per-row" -> PER_ROW;
                case "grouped" -> GROUPED;
                default -> throw new IllegalArgumentException("--lora-mixing must be per-row or grouped, got '" + s + "'");
            };
        }
    }

    public ServeOptions {
        if (host == null || host.isBlank()) throw new IllegalArgumentException("--host must not be empty");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in [0, 65535], got " + port);
        if (apiKey != null && apiKey.isBlank()) throw new IllegalArgumentException("--api-key must not be blank");
        if (allowRuntimeLora && loraRoot == null) {
            throw new IllegalArgumentException("--allow-runtime-lora needs --lora-root DIR: runtime loading reads only folders under it");
        }
        if (maxLoras < 1) throw new IllegalArgumentException("--max-loras must be >= 1, got " + maxLoras);
        if (maxLoraRank < 1) throw new IllegalArgumentException("--max-lora-rank must be >= 1, got " + maxLoraRank);
        if (maxQueue < 1) throw new IllegalArgumentException("--max-queue must be >= 1, got " + maxQueue);
        if (batchRows < 1) throw new IllegalArgumentException("--batch-rows must be >= 1, got " + batchRows);
        if (maxModelLen < 2) throw new IllegalArgumentException("--max-model-len must be >= 2, got " + maxModelLen);
        if (maxBodyBytes < 1024) throw new IllegalArgumentException("--max-body-bytes must be >= 1024, got " + maxBodyBytes);
        if (loraMixing == null) throw new IllegalArgumentException("--lora-mixing must be given");
        if (streamInterval < 1) throw new IllegalArgumentException("--stream-interval must be >= 1, got " + streamInterval);
    }

    /** Defaults for tests and benchmarks: 127.0.0.1 on a free port. */
    public static ServeOptions defaults(String servedModelName) {
        return new ServeOptions("127.0.0.1", 0, null, servedModelName, false, null, 8, 64, 256, 64, 4096, 1 << 20, LoraMixing.PER_ROW, 1);
    }

    public ServeOptions withApiKey(String key) {
        return new ServeOptions(host, port, key, servedModelName, allowRuntimeLora, loraRoot, maxLoras, maxLoraRank, maxQueue, batchRows,
                maxModelLen, maxBodyBytes, loraMixing, streamInterval);
    }

    public ServeOptions withRuntimeLora(Path root) {
        return new ServeOptions(host, port, apiKey, servedModelName, true, root, maxLoras, maxLoraRank, maxQueue, batchRows,
                maxModelLen, maxBodyBytes, loraMixing, streamInterval);
    }

    public ServeOptions withLoraMixing(LoraMixing mixing) {
        return new ServeOptions(host, port, apiKey, servedModelName, allowRuntimeLora, loraRoot, maxLoras, maxLoraRank, maxQueue, batchRows,
                maxModelLen, maxBodyBytes, mixing, streamInterval);
    }

    public ServeOptions withLimits(int maxLoras, int maxQueue, int batchRows) {
        return new ServeOptions(host, port, apiKey, servedModelName, allowRuntimeLora, loraRoot, maxLoras, maxLoraRank, maxQueue, batchRows,
                maxModelLen, maxBodyBytes, loraMixing, streamInterval);
    }

    public ServeOptions withStreamInterval(int tokens) {
        return new ServeOptions(host, port, apiKey, servedModelName, allowRuntimeLora, loraRoot, maxLoras, maxLoraRank, maxQueue, batchRows,
                maxModelLen, maxBodyBytes, loraMixing, tokens);
    }
}
