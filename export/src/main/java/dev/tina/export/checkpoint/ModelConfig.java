package dev.tina.export.checkpoint;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A Hugging Face {@code config.json} of a Llama or Qwen2 causal LM, validated on construction.
 * Optional keys follow transformers' defaults ({@code num_key_value_heads} = heads,
 * {@code head_dim} = hidden / heads).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record ModelConfig(
        @JsonProperty("architectures") List<String> architectures,
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("hidden_size") int hiddenSize,
        @JsonProperty("intermediate_size") int intermediateSize,
        @JsonProperty("num_hidden_layers") int numHiddenLayers,
        @JsonProperty("num_attention_heads") int numAttentionHeads,
        @JsonProperty("num_key_value_heads") Integer numKeyValueHeadsOrNull,
        @JsonProperty("head_dim") Integer headDimOrNull,
        @JsonProperty("rms_norm_eps") double rmsNormEps,
        @JsonProperty("rope_theta") Double ropeThetaOrNull,
        @JsonProperty("rope_scaling") JsonNode ropeScaling,
        @JsonProperty("tie_word_embeddings") boolean tieWordEmbeddings,
        @JsonProperty("hidden_act") String hiddenAct,
        @JsonProperty("attention_bias") Boolean attentionBias,
        @JsonProperty("mlp_bias") Boolean mlpBias,
        @JsonProperty("use_sliding_window") Boolean useSlidingWindow,
        @JsonProperty("max_position_embeddings") Integer maxPositionEmbeddings,
        @JsonProperty("bos_token_id") JsonNode bosTokenId,
        @JsonProperty("eos_token_id") JsonNode eosTokenId,
        @JsonProperty("torch_dtype") String torchDtype) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, true)
            .configure(DeserializationFeature.ACCEPT_FLOAT_AS_INT, false);

    public ModelConfig {
        if (architectures == null || architectures.size() != 1) {
            throw new CheckpointFormatException("field 'architectures' must name exactly one architecture, got " + architectures);
        }
        Architecture.fromHf(architectures.getFirst(), null);
        requirePositive("vocab_size", vocabSize);
        requirePositive("hidden_size", hiddenSize);
        requirePositive("intermediate_size", intermediateSize);
        requirePositive("num_hidden_layers", numHiddenLayers);
        requirePositive("num_attention_heads", numAttentionHeads);
        int kv = numKeyValueHeadsOrNull == null ? numAttentionHeads : numKeyValueHeadsOrNull;
        requirePositive("num_key_value_heads", kv);
        if (numAttentionHeads % kv != 0) {
            throw new CheckpointFormatException("num_attention_heads " + numAttentionHeads
                    + " is not a multiple of num_key_value_heads " + kv);
        }
        if (headDimOrNull == null && hiddenSize % numAttentionHeads != 0) {
            throw new CheckpointFormatException("hidden_size " + hiddenSize + " is not divisible by num_attention_heads "
                    + numAttentionHeads + " and no head_dim is given");
        }
        int hd = headDimOrNull == null ? hiddenSize / numAttentionHeads : headDimOrNull;
        if (hd <= 0 || hd % 2 != 0) throw new CheckpointFormatException("head_dim must be a positive even number, got " + hd);
        if (!(rmsNormEps > 0)) throw new CheckpointFormatException("rms_norm_eps must be > 0, got " + rmsNormEps);
        if (hiddenAct != null && !hiddenAct.equals("silu")) {
            throw new CheckpointFormatException("hidden_act '" + hiddenAct + "' is not supported, expected silu");
        }
        if (Boolean.TRUE.equals(mlpBias)) throw new CheckpointFormatException("mlp_bias=true is not supported");
        if (Boolean.TRUE.equals(useSlidingWindow)) {
            throw new CheckpointFormatException("use_sliding_window=true is not supported (full attention only)");
        }
        RopeFrequencies.validate(ropeScaling);
    }

    private static void requirePositive(String field, int v) {
        if (v <= 0) throw new CheckpointFormatException("field '" + field + "' must be > 0, got " + v);
    }

    public static ModelConfig read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new CheckpointFormatException(file + ": not found (a Hugging Face model folder needs config.json)");
        return JsonErrors.read(JSON, file, ModelConfig.class);
    }

    public Architecture architecture() { return Architecture.fromHf(architectures.getFirst(), null); }

    public int numKeyValueHeads() { return numKeyValueHeadsOrNull == null ? numAttentionHeads : numKeyValueHeadsOrNull; }

    public int headDim() { return headDimOrNull == null ? hiddenSize / numAttentionHeads : headDimOrNull; }

    public double ropeTheta() { return ropeThetaOrNull == null ? 10000.0 : ropeThetaOrNull; }

    /** Qwen2 always has q/k/v biases; Llama has them when {@code attention_bias} is set. */
    public boolean qkvBias() {
        return architecture() == Architecture.QWEN2 || Boolean.TRUE.equals(attentionBias);
    }

    public List<Long> eosTokenIds() { return ids(eosTokenId); }

    public List<Long> bosTokenIds() { return ids(bosTokenId); }

    private static List<Long> ids(JsonNode n) {
        List<Long> out = new ArrayList<>();
        if (n == null || n.isNull()) return out;
        if (n.isArray()) n.forEach(x -> out.add(x.asLong()));
        else out.add(n.asLong());
        return out;
    }

    /** Total parameter count of the weights the config implies. */
    public long parameterCount() {
        long h = hiddenSize, layers = numHiddenLayers;
        long perLayer = 2 * h;
        for (Projection p : Projection.values()) {
            perLayer += (long) p.inFeatures(this) * p.outFeatures(this) + (p.hasBias(this) ? p.outFeatures(this) : 0);
        }
        return (long) vocabSize * h * (tieWordEmbeddings ? 1 : 2) + h + layers * perLayer;
    }
}
