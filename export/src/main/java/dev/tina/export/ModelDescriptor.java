package dev.tina.export;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.JsonErrors;
import dev.tina.export.checkpoint.SafetensorsWriter;
import dev.tina.export.quant.BlockQuantizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * {@code tina-model.json}: what the runtime needs to know about an exported decoder without
 * parsing the ONNX file: tensor names and shapes of the KV cache, the LoRA inputs, special tokens
 * and where the export came from.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record ModelDescriptor(
        @JsonProperty("format_version") int formatVersion,
        @JsonProperty("tool_version") String toolVersion,
        @JsonProperty("architecture") String architecture,
        @JsonProperty("onnx_file") String onnxFile,
        @JsonProperty("weights_dtype") String weightsDtype,
        @JsonProperty("compute_dtype") String computeDtype,
        @JsonProperty("num_layers") int numLayers,
        @JsonProperty("num_attention_heads") int numAttentionHeads,
        @JsonProperty("num_key_value_heads") int numKeyValueHeads,
        @JsonProperty("head_dim") int headDim,
        @JsonProperty("hidden_size") int hiddenSize,
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("bos_token_ids") List<Long> bosTokenIds,
        @JsonProperty("eos_token_ids") List<Long> eosTokenIds,
        @JsonProperty("lora_targets") List<String> loraTargets,
        @JsonProperty("lora_dims") Map<String, int[]> loraDims,
        @JsonProperty("source") Map<String, String> source,
        @JsonProperty("quantization") Quantization quantization) {

    /**
     * A quantized export's extra graphs: the same three graphs with the base projections (and the LM
     * head when {@code head}) as MatMulNBits over {@code data_file}; the full-precision graphs stay
     * beside them for training, reference scoring and parity.
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Quantization(
            @JsonProperty("scheme") String scheme,
            @JsonProperty("block_size") int blockSize,
            @JsonProperty("head") boolean head,
            @JsonProperty("accuracy_level") int accuracyLevel,
            @JsonProperty("sampling_file") String samplingFile,
            @JsonProperty("full_logits_file") String fullLogitsFile,
            @JsonProperty("in_place_file") String inPlaceFile,
            @JsonProperty("data_file") String dataFile,
            @JsonProperty("quantized_bytes") long quantizedBytes) {

        /** Whether the weights are cut into blocks (MatMulNBits: {@code block_size} and {@code accuracy_level} apply). */
        public boolean blockWise() { return BlockQuantizer.Scheme.parse(scheme).blockWise(); }

        /** The scheme in words: {@code int4, block 32, LM head too} or {@code w8a8, per-channel weights, per-token activations}. */
        public String describe() {
            return scheme + (blockWise() ? ", block " + blockSize : ", per-channel weights, per-token activations") + (head ? ", LM head too" : "");
        }
    }

    @JsonCreator
    public ModelDescriptor {}

    /** Without quantization. */
    public ModelDescriptor(int formatVersion, String toolVersion, String architecture, String onnxFile, String weightsDtype, String computeDtype,
                           int numLayers, int numAttentionHeads, int numKeyValueHeads, int headDim, int hiddenSize, int vocabSize,
                           List<Long> bosTokenIds, List<Long> eosTokenIds, List<String> loraTargets, Map<String, int[]> loraDims,
                           Map<String, String> source) {
        this(formatVersion, toolVersion, architecture, onnxFile, weightsDtype, computeDtype, numLayers, numAttentionHeads, numKeyValueHeads,
                headDim, hiddenSize, vocabSize, bosTokenIds, eosTokenIds, loraTargets, loraDims, source, null);
    }

    @JsonIgnore
    public boolean quantized() { return quantization != null; }

    public static final String FILE = "tina-model.json";
    /** 2: adds the {@code last_logits} output; 3: three graphs (sampling, full logits, in-place cache) over one weights file. */
    public static final int FORMAT_VERSION = 3;
    private static final ObjectMapper JSON = new ObjectMapper();

    public static ModelDescriptor read(Path exportDir) throws IOException {
        Path f = exportDir.resolve(FILE);
        if (!Files.isRegularFile(f)) throw new CheckpointFormatException(f + ": not found; is " + exportDir + " an exported model (tina export)?");
        ModelDescriptor d = JsonErrors.read(JSON, f, ModelDescriptor.class);
        if (d.formatVersion != FORMAT_VERSION) {
            throw new CheckpointFormatException(f + ": format_version " + d.formatVersion + ", this tool reads " + FORMAT_VERSION + "; re-export the model");
        }
        return d;
    }

    public void write(Path exportDir) throws IOException {
        SafetensorsWriter.writeJsonAtomically(exportDir.resolve(FILE), this);
    }
}
