package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.GenerationDefaults;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.runtime.text.ChatMessage;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Sample completions for prompts (batched, KV cache, shared prefill); writes one JSON object per completion.")
final class GenerateCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Mixin ModelOption model;

    @Option(names = "--adapter", description = "PEFT LoRA adapter folder")
    Path adapter;

    @ArgGroup(exclusive = true, multiplicity = "1")
    PromptSource source;

    static final class PromptSource {
        @Option(names = "--prompt", description = "one text prompt") String prompt;
        @Option(names = "--prompts", description = "JSONL, one prompt per line: {\"prompt\": TEXT} or {\"prompt_ids\": [..]} or {\"messages\": [{\"role\",\"content\"}..]}") Path prompts;
        @Option(names = "--prompt-ids", split = ",", description = "one prompt as token ids: 1,2,3") List<Long> promptIds;
    }

    @Option(names = "--n", defaultValue = "1", description = "completions per prompt; default ${DEFAULT-VALUE}") int n;
    @Option(names = "--temperature", description = "default: generation_config.json, else 1.0") Double temperature;
    @Option(names = "--top-p", description = "default: generation_config.json, else 1.0") Double topP;
    @Option(names = "--top-k", description = "0 = off; default: generation_config.json, else 0") Integer topK;
    @Option(names = "--min-p", description = "0 = off; default: generation_config.json, else 0") Double minP;
    @Option(names = "--greedy", description = "argmax decoding (same as --temperature 0)") boolean greedy;
    @Option(names = "--max-new-tokens", description = "default: generation_config.json, else 256") Integer maxNewTokens;
    @Option(names = "--stop", description = "stop string (repeatable); cut from the text") List<String> stop = new ArrayList<>();
    @Option(names = "--chat", description = "apply the model's chat template to text prompts") boolean chat;
    @Option(names = "--system", description = "system prompt for --chat") String system;
    @Option(names = "--seed", defaultValue = "0", description = "sampling seed; default ${DEFAULT-VALUE}") long seed;
    @Option(names = "--out", description = "JSONL output file (written atomically); default stdout") Path out;
    @Option(names = "--batch-rows", defaultValue = "64", description = "max sequences decoded together; default ${DEFAULT-VALUE}") int batchRows;
    @Mixin DeviceOption device;

    @Override
    public Integer call() throws Exception {
        try (LoadedModel m = LoadedModel.open(model.path(), SessionSettings.of(device.get()));
             AdapterBinding binding = m.adapter(adapter);
             BatchSampler sampler = m.sampler(batchRows)) {
            SamplingParams params = params(m.defaults());
            List<long[]> prompts = prompts(m);
            for (int i = 0; i < prompts.size(); i++) {
                long need = (long) prompts.get(i).length + params.maxNewTokens();
                if (need > m.maxPositions()) {
                    throw new IllegalArgumentException("prompt " + i + " has " + prompts.get(i).length + " tokens; with --max-new-tokens "
                            + params.maxNewTokens() + " it needs " + need + " positions, the model's context is " + m.maxPositions());
                }
            }
            long t0 = System.nanoTime();
            List<Completion> completions;
            try (Progress bar = Progress.count("generate", (long) prompts.size() * params.n(), "seq")) {
                completions = sampler.generate(prompts, params, binding, c -> bar.accept(1));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            write(completions);
            long tokens = completions.stream().mapToLong(c -> c.tokenIds().length).sum();
            System.err.printf("%d completions, %d tokens in %.2f s (%.1f tokens/s)%n", completions.size(), tokens, seconds, tokens / seconds);
            return 0;
        }
    }

    private SamplingParams params(GenerationDefaults d) {
        double t = greedy ? 0 : temperature != null ? temperature : d.doSample() ? d.temperature() : 0;
        Set<Long> stopIds = new HashSet<>(d.eosTokenIds());
        return new SamplingParams(n, t, topP != null ? topP : d.doSample() ? d.topP() : 1.0,
                topK != null ? topK : d.doSample() ? d.topK() : 0, minP != null ? minP : d.doSample() ? d.minP() : 0.0,
                maxNewTokens != null ? maxNewTokens : d.maxNewTokens() != null ? d.maxNewTokens() : 256, stop, stopIds, seed);
    }

    private List<long[]> prompts(LoadedModel m) throws IOException {
        List<long[]> out = new ArrayList<>();
        if (source.promptIds != null) {
            out.add(source.promptIds.stream().mapToLong(Long::longValue).toArray());
        } else if (source.prompt != null) {
            out.add(m.encodePrompt(source.prompt, chat, system));
        } else {
            List<String> lines = Files.readAllLines(source.prompts);
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i);
                if (line.isBlank()) continue;
                JsonNode n;
                try {
                    n = JSON.readTree(line);
                } catch (com.fasterxml.jackson.core.JacksonException e) {
                    throw new IllegalArgumentException(source.prompts + ": line " + (i + 1) + " is not valid JSON: " + e.getOriginalMessage());
                }
                if (n.has("prompt_ids")) {
                    long[] ids = new long[n.get("prompt_ids").size()];
                    for (int k = 0; k < ids.length; k++) ids[k] = n.get("prompt_ids").get(k).asLong();
                    out.add(ids);
                } else if (n.has("messages")) {
                    int lineNo = i + 1;
                    List<ChatMessage> msgs = new ArrayList<>();
                    for (JsonNode x : n.get("messages")) msgs.add(new ChatMessage(x.path("role").asText(), x.path("content").asText()));
                    String rendered = m.chatTemplate().orElseThrow(() -> new IllegalArgumentException(
                            source.prompts + ": line " + lineNo + " has messages but the model has no chat template")).render(msgs, true);
                    out.add(m.tokenizer().orElseThrow().encode(rendered));
                } else if (n.has("prompt")) {
                    out.add(m.encodePrompt(n.get("prompt").asText(), chat, system));
                } else {
                    throw new IllegalArgumentException(source.prompts + ": line " + (i + 1) + " has none of 'prompt', 'prompt_ids', 'messages'");
                }
            }
            if (out.isEmpty()) throw new IllegalArgumentException(source.prompts + ": no prompts");
        }
        return out;
    }

    private void write(List<Completion> completions) throws IOException {
        Path tmp = out == null ? null : out.resolveSibling(out.getFileName() + ".tmp");
        try (Writer w = out == null ? new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8))
                : Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            for (Completion c : completions) {
                ObjectNode o = JSON.createObjectNode();
                o.put("prompt_index", c.promptIndex());
                o.put("sample_index", c.sampleIndex());
                var ids = o.putArray("token_ids");
                for (long id : c.tokenIds()) ids.add(id);
                if (c.text() != null) o.put("text", c.text());
                var lp = o.putArray("logprobs");
                for (float f : c.logprobs()) lp.add(f);
                o.put("finish_reason", c.finishReason().wire());
                w.write(JSON.writeValueAsString(o));
                w.write('\n');
            }
        }
        if (tmp != null) Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
