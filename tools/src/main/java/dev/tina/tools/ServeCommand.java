package dev.tina.tools;

import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.tools.serve.OpenAiServer;
import dev.tina.tools.serve.ServeOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "OpenAI-compatible HTTP server for the base model and any number of LoRA adapters (docs/serve.md).")
final class ServeCommand implements Callable<Integer> {
    @Mixin ModelOption model;
    @Option(names = "--adapter", description = "NAME=DIR: a PEFT adapter served under NAME (repeatable)") List<String> adapters = new java.util.ArrayList<>();
    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to bind; default ${DEFAULT-VALUE}") String host;
    @Option(names = "--port", defaultValue = "8000", description = "default ${DEFAULT-VALUE}") int port;
    @Option(names = "--api-key", description = "every route but /health and the page at / needs 'Authorization: Bearer KEY'") String apiKey;
    @Option(names = "--served-model-name", description = "the base model's name in requests; default the model folder's name") String servedModelName;
    @Option(names = "--allow-runtime-lora", description = "enable /v1/load_lora_adapter and /v1/unload_lora_adapter") boolean allowRuntimeLora;
    @Option(names = "--lora-root", description = "runtime loading reads only adapter folders under this one") Path loraRoot;
    @Option(names = "--max-loras", defaultValue = "8", description = "adapters bound at once (least recently used idle one unbound); default ${DEFAULT-VALUE}") int maxLoras;
    @Option(names = "--max-lora-rank", defaultValue = "64", description = "adapters of a higher rank are refused at load; default ${DEFAULT-VALUE}") int maxLoraRank;
    @Option(names = "--max-queue", defaultValue = "256", description = "requests waiting for a slot before 429; default ${DEFAULT-VALUE}") int maxQueue;
    @Option(names = "--batch-rows", defaultValue = "64", description = "sequences decoded together (KV cache slots); default ${DEFAULT-VALUE}") int batchRows;
    @Option(names = "--max-model-len", defaultValue = "4096", description = "cache positions per row (prompt + max_tokens), at most the model's context; default ${DEFAULT-VALUE}") int maxModelLen;
    @Option(names = "--max-body-bytes", defaultValue = "1048576", description = "larger request bodies get 413; default ${DEFAULT-VALUE}") int maxBodyBytes;
    @Option(names = "--lora-mixing", defaultValue = "per-row", description = "per-row (one engine call for all adapters' rows) or grouped (one call per adapter); default ${DEFAULT-VALUE}") String loraMixing;
    @Option(names = "--stream-interval", defaultValue = "1", description = "streaming: one event per choice every N tokens (the first token and the end at once); larger values cost the server less per token and deliver text in bursts; default ${DEFAULT-VALUE}") int streamInterval;
    @Mixin DeviceOption device;

    @Override
    public Integer call() throws Exception {
        device.only("tina serve (its slot engine needs the in-place KV cache graph)", SessionSettings.Device.CPU);
        Map<String, Path> named = parseAdapters(adapters);
        String name = servedModelName != null ? servedModelName : model.path().toAbsolutePath().normalize().getFileName().toString();
        ServeOptions options = new ServeOptions(host, port, apiKey, name, allowRuntimeLora, loraRoot, maxLoras, maxLoraRank, maxQueue,
                batchRows, maxModelLen, maxBodyBytes, ServeOptions.LoraMixing.parse(loraMixing), streamInterval);
        try (LoadedModel m = LoadedModel.open(model.path(), SessionSettings.of(SessionSettings.Device.CPU));
             OpenAiServer server = OpenAiServer.start(options, m, named)) {
            System.err.println("tina serve: " + name + (named.isEmpty() ? "" : " + adapters " + named.keySet()) + " on " + server.baseUrl()
                    + " (page at /, API under /v1); KV cache " + String.format("%.1f MB", server.kvCacheBytes() / 1e6)
                    + " (--batch-rows × --max-model-len)");
            new CountDownLatch(1).await(); // until the process is stopped
        }
        return 0;
    }

    static Map<String, Path> parseAdapters(List<String> specs) {
        Map<String, Path> out = new LinkedHashMap<>();
        for (String s : specs) {
            int eq = s.indexOf('=');
            if (eq <= 0 || eq == s.length() - 1) throw new IllegalArgumentException("--adapter must be NAME=DIR, got '" + s + "'");
            String name = s.substring(0, eq);
            if (out.put(name, Path.of(s.substring(eq + 1))) != null) throw new IllegalArgumentException("--adapter: the name '" + name + "' is given twice");
        }
        return out;
    }
}
