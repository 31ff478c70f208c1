package dev.tina.runtime;

import dev.tina.export.DecoderExporter;
import dev.tina.export.ExportCache;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.OrtBackend;
import dev.tina.runtime.text.ChatMessage;
import dev.tina.runtime.text.ChatTemplate;
import dev.tina.runtime.text.HfTokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Everything a command needs to run a model given as {@code --model}: a Hugging Face folder
 * (exported on first use into the cache, with LoRA inputs on all seven projections) or an
 * exported folder; its ONNX Runtime session, tokenizer and chat template when it has them, its
 * config and generation defaults. Owns the session and the tokenizer.
 */
public final class LoadedModel implements AutoCloseable {
    private final Path exportDir;
    private final ModelConfig config;
    private final OrtDecoder decoder;
    private final HfTokenizer tokenizer;
    private final ChatTemplate chatTemplate;
    private final GenerationDefaults defaults;
    private SharedWeights shared;
    private SessionSettings.Device device = SessionSettings.Device.CPU;
    private dev.tina.runtime.gpu.TensorRtDecoder tensorRt;

    private LoadedModel(Path exportDir, ModelConfig config, OrtDecoder decoder, HfTokenizer tokenizer,
                        ChatTemplate chatTemplate, GenerationDefaults defaults) {
        this.exportDir = exportDir;
        this.config = config;
        this.decoder = decoder;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
        this.defaults = defaults;
    }

    /**
     * As {@link #open} on the full-precision graphs (also of a quantized export), with the base weights memory-mapped once ({@link SharedWeights}) so that
     * other sessions over the same export (training, scoring) can share them; the model owns them.
     */
    public static LoadedModel openShared(Path model, SessionSettings settings) throws Exception {
        Path exportDir = resolveExport(model);
        SharedWeights w = new SharedWeights(ai.onnxruntime.OrtEnvironment.getEnvironment(), exportDir);
        try {
            // training and reference scoring: the policy's log-probs are the full-precision model's
            LoadedModel m = openSession(exportDir, settings.withSharedWeights(w), OrtDecoder.Precision.FULL);
            m.shared = w;
            return m;
        } catch (Exception e) {
            w.close();
            throw e;
        }
    }

    /** The shared base weights, when opened with {@link #openShared}. */
    public SharedWeights sharedWeights() { return shared; }

    /**
     * The export folder of {@code model}: the folder itself when it is an export, else the export
     * cache's for a Hugging Face folder (made on first use). For callers that need the model's files
     * (its config, tokenizer) without its sessions.
     */
    public static Path resolveExport(Path model) throws Exception {
        if (!Files.isDirectory(model)) throw new IllegalArgumentException(model + ": no such model folder");
        if (!ExportCache.isExport(model) && !Files.isRegularFile(model.resolve("config.json"))) {
            throw new IllegalArgumentException(model + ": neither a Hugging Face model folder (config.json) nor an exported one ("
                    + dev.tina.export.ModelDescriptor.FILE + ")");
        }
        return ExportCache.resolve(model, new DecoderExporter.Options(DType.F32, List.of(Projection.values()), false));
    }

    /**
     * Opens the model for {@code settings.device()}. On TENSORRT the ONNX Runtime session (adapter
     * bindings, scoring) stays on the CPU over memory-mapped shared weights (cheap: no copy), and
     * {@link #sampler} decodes on the TensorRT engine.
     */
    public static LoadedModel open(Path model, SessionSettings settings) throws Exception {
        return open(model, settings, OrtDecoder.Precision.AS_EXPORTED);
    }

    /** As {@link #open(Path, SessionSettings)}, choosing the full-precision graphs of a quantized export with {@code Precision.FULL}. */
    public static LoadedModel open(Path model, SessionSettings settings, OrtDecoder.Precision precision) throws Exception {
        if (settings.device() == SessionSettings.Device.TENSORRT && settings.sharedWeights() == null) return openShared(model, settings);
        return openSession(resolveExport(model), settings, precision);
    }

    private static LoadedModel openSession(Path exportDir, SessionSettings settings, OrtDecoder.Precision precision) throws Exception {
        ModelConfig config = ModelConfig.read(exportDir.resolve("config.json"));
        SessionSettings ort = settings.device() == SessionSettings.Device.TENSORRT
                ? new SessionSettings(SessionSettings.Device.CPU, settings.intraOpThreads(), settings.sharedWeights()) : settings;
        OrtDecoder decoder = OrtDecoder.open(exportDir, ort, precision);
        HfTokenizer tok = null;
        try {
            tok = HfTokenizer.exists(exportDir) ? HfTokenizer.open(exportDir) : null;
            ChatTemplate template = ChatTemplate.load(exportDir).orElse(null);
            LoadedModel m = new LoadedModel(exportDir, config, decoder, tok, template, GenerationDefaults.read(exportDir));
            m.device = settings.device();
            return m;
        } catch (Exception e) {
            if (tok != null) tok.close();
            decoder.close();
            throw e;
        }
    }

    public OrtDecoder decoder() { return decoder; }

    /** The device this model was opened for. */
    public SessionSettings.Device device() { return device; }

    /**
     * A batched sampler on this model's device: the ONNX Runtime session (CPU or CUDA), or on
     * TENSORRT an engine built (or loaded from {@code $TINA_CACHE/trt-engines}) with
     * {@link dev.tina.runtime.gpu.TensorRtSettings#fromEnvironment} and kept by this model.
     * Close the sampler before the model.
     */
    public BatchSampler sampler(int maxRows) throws Exception {
        return sampler(maxRows, true);
    }

    /** As {@link #sampler(int)}; without {@code text} the completions carry ids only (benchmarks). */
    public BatchSampler sampler(int maxRows, boolean text) throws Exception {
        HfTokenizer tok = text ? tokenizer : null;
        if (device == SessionSettings.Device.TENSORRT) {
            if (tensorRt == null) {
                tensorRt = dev.tina.runtime.gpu.TensorRtDecoder.open(exportDir,
                        dev.tina.runtime.gpu.TensorRtSettings.fromEnvironment(System.getenv()),
                        dev.tina.runtime.gpu.EngineCache.defaultCache(), System.err::println);
            }
            return new BatchSampler(tensorRt, tok, maxRows).maxPositions(maxPositions());
        }
        return new BatchSampler(decoder, tok, maxRows).maxPositions(maxPositions());
    }

    /**
     * A CPU sampler over the concatenating-cache graph in waves (the engine before the in-place
     * cache), for benchmarks that compare the two in one run. Close it before the model.
     */
    public BatchSampler concatSampler(int maxRows, boolean text) throws Exception {
        var engine = new OrtBackend(decoder, "onnxruntime-concat");
        return BatchSampler.owning(engine, text ? tokenizer : null, maxRows).maxPositions(maxPositions());
    }

    public ModelConfig config() { return config; }

    public Path exportDir() { return exportDir; }

    public Optional<HfTokenizer> tokenizer() { return Optional.ofNullable(tokenizer); }

    public Optional<ChatTemplate> chatTemplate() { return Optional.ofNullable(chatTemplate); }

    public GenerationDefaults defaults() { return defaults; }

    /** The adapter folder's tensors bound for this model (shapes checked against its config). */
    public AdapterBinding adapter(Path adapterDir) throws Exception {
        if (adapterDir == null) return AdapterBinding.none(decoder.environment(), decoder.descriptor());
        return AdapterBinding.of(decoder.environment(), decoder.descriptor(), PeftAdapter.read(adapterDir, config));
    }

    /** Token ids of a text prompt, through the chat template when {@code chat} (system prompt optional). */
    public long[] encodePrompt(String text, boolean chat, String system) {
        HfTokenizer tok = tokenizer().orElseThrow(() -> new IllegalArgumentException(
                exportDir + ": the model has no tokenizer.json; give prompts as token ids (--prompt-ids)"));
        String rendered = text;
        if (chat) {
            ChatTemplate t = chatTemplate().orElseThrow(() -> new IllegalArgumentException(
                    exportDir + ": --chat given but the model has no chat template (tokenizer_config.json 'chat_template')"));
            List<ChatMessage> msgs = system == null ? List.of(ChatMessage.user(text)) : List.of(ChatMessage.system(system), ChatMessage.user(text));
            rendered = t.render(msgs, true);
        }
        return tok.encode(rendered);
    }

    /** The context length: prompt + new tokens must fit in it. */
    public int maxPositions() {
        return config.maxPositionEmbeddings() == null ? Integer.MAX_VALUE : config.maxPositionEmbeddings();
    }

    @Override
    public void close() throws Exception {
        if (tensorRt != null) tensorRt.close();
        if (tokenizer != null) tokenizer.close();
        decoder.close();
        if (shared != null) shared.close();
    }
}
