package dev.tina.training.graph;

/**
 * One micro-batch of a training graph's inputs, typed ({@link TrainingInput} names them): what a
 * gradient engine runs on. Shapes: {@code inputIds}, {@code attentionMask}, {@code positionIds}
 * [rows × length]; {@code targetPositions} (flat row·length + t, the position predicting token
 * t+1), {@code targetIds}, {@code tokenWeights} [K]. {@code dropoutSeed} is null when the graph
 * has no LoRA dropout.
 */
public sealed interface MicroBatch permits GrpoMicroBatch, SftMicroBatch {
    int rows();

    int length();

    long[] inputIds();

    long[] attentionMask();

    long[] positionIds();

    long[] targetPositions();

    long[] targetIds();

    float[] tokenWeights();

    float loraScale();

    float temperature();

    Long dropoutSeed();

    default int targets() { return targetIds().length; }

    /**
     * The values of {@code in} (a {@code long[]} or {@code float[]}, a scalar as an array of one),
     * or null when this kind of micro-batch has no such input.
     */
    Object values(TrainingInput in);

    /** The values of {@code in}, or an error naming the input when this micro-batch lacks it. */
    default Object require(TrainingInput in) {
        Object v = values(in);
        if (v == null) throw new IllegalArgumentException(this + " lacks input '" + in.graphName() + "'");
        return v;
    }

    /** The shape of {@code in}'s tensor. */
    default long[] shape(TrainingInput in) {
        return switch (in.extent()) {
            case TOKENS -> new long[]{rows(), length()};
            case TARGETS -> new long[]{targets()};
            case SCALAR -> new long[]{1};
        };
    }

    /** The inputs every micro-batch has, in {@link TrainingInput} terms; null for the rest. */
    default Object commonValues(TrainingInput in) {
        return switch (in) {
            case INPUT_IDS -> inputIds();
            case ATTENTION_MASK -> attentionMask();
            case POSITION_IDS -> positionIds();
            case LORA_SCALE -> new float[]{loraScale()};
            case DROPOUT_SEED -> dropoutSeed() == null ? null : new long[]{dropoutSeed()};
            case TARGET_POSITIONS -> targetPositions();
            case TARGET_IDS -> targetIds();
            case TOKEN_WEIGHTS -> tokenWeights();
            case TEMPERATURE -> new float[]{temperature()};
            default -> null;
        };
    }

    /** Checks the shared shapes; {@code what} names the micro-batch in the error. */
    static void checkShapes(String what, int rows, int length, long[] inputIds, long[] attentionMask, long[] positionIds,
                            long[] targetPositions, long[] targetIds, float[] tokenWeights) {
        if (rows < 1 || length < 1) throw new IllegalArgumentException(what + ": shape [" + rows + ", " + length + "] is empty");
        long cells = (long) rows * length;
        checkCount(what, TrainingInput.INPUT_IDS, inputIds.length, cells);
        checkCount(what, TrainingInput.ATTENTION_MASK, attentionMask.length, cells);
        checkCount(what, TrainingInput.POSITION_IDS, positionIds.length, cells);
        checkCount(what, TrainingInput.TARGET_POSITIONS, targetPositions.length, targetIds.length);
        checkCount(what, TrainingInput.TOKEN_WEIGHTS, tokenWeights.length, targetIds.length);
        for (long p : targetPositions) {
            if (p < 0 || p >= cells) throw new IllegalArgumentException(what + ": target position " + p + " outside [0, " + cells + ")");
        }
    }

    static void checkCount(String what, TrainingInput in, long got, long want) {
        if (got != want) throw new IllegalArgumentException(what + ": '" + in.graphName() + "' has " + got + " values, expected " + want);
    }
}
