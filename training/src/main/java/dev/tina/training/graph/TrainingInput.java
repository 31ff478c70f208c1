package dev.tina.training.graph;

import dev.tina.export.onnx.DecoderGraph;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The inputs of a training graph (decoder + {@link LossHead}), the one place their names are
 * spelled: the graphs declare them, the micro-batches ({@link MicroBatch}) fill them, and the
 * engines feed them by these names.
 */
public enum TrainingInput {
    INPUT_IDS("input_ids", Extent.TOKENS), ATTENTION_MASK("attention_mask", Extent.TOKENS), POSITION_IDS("position_ids", Extent.TOKENS),
    LORA_SCALE(DecoderGraph.LORA_SCALE, Extent.SCALAR), DROPOUT_SEED(DecoderGraph.DROPOUT_SEED, Extent.SCALAR),
    TARGET_POSITIONS("target_positions", Extent.TARGETS), TARGET_IDS("target_ids", Extent.TARGETS),
    TOKEN_WEIGHTS("token_weights", Extent.TARGETS), TEMPERATURE("temperature", Extent.SCALAR),
    ADVANTAGES("advantages", Extent.TARGETS), OLD_LOGPS("old_logps", Extent.TARGETS), REF_LOGPS("ref_logps", Extent.TARGETS),
    BETA("beta", Extent.SCALAR), EPSILON_LOW("epsilon_low", Extent.SCALAR), EPSILON_HIGH("epsilon_high", Extent.SCALAR);

    /** What an input's shape follows: [rows × length], [K targets], or [1]. */
    public enum Extent { TOKENS, TARGETS, SCALAR }

    private final String graphName;
    private final Extent extent;

    TrainingInput(String graphName, Extent extent) {
        this.graphName = graphName;
        this.extent = extent;
    }

    /** The graph input's name. */
    public String graphName() { return graphName; }

    public Extent extent() { return extent; }

    /** The input a graph names {@code name}; an unknown name is an error listing the known ones. */
    public static TrainingInput of(String name) {
        for (TrainingInput in : values()) if (in.graphName.equals(name)) return in;
        throw new IllegalArgumentException("unknown training graph input '" + name + "', expected one of "
                + Arrays.stream(values()).map(TrainingInput::graphName).collect(Collectors.joining(", ")));
    }
}
