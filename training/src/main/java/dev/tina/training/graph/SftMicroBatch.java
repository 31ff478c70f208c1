package dev.tina.training.graph;

import java.io.Serial;
import java.io.Serializable;

/**
 * One micro-batch for a {@link LossHead.Sft} graph: the tokens, the targets and their weights
 * (see {@link MicroBatch} for shapes). {@code loraScale} is unused by a full-parameter graph.
 */
public record SftMicroBatch(int rows, int length, long[] inputIds, long[] attentionMask, long[] positionIds,
                            long[] targetPositions, long[] targetIds, float[] tokenWeights, float loraScale, float temperature,
                            Long dropoutSeed) implements MicroBatch, Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    public SftMicroBatch {
        MicroBatch.checkShapes("SFT micro-batch", rows, length, inputIds, attentionMask, positionIds, targetPositions, targetIds, tokenWeights);
    }

    @Override
    public Object values(TrainingInput in) { return commonValues(in); }

    @Override
    public String toString() { return "SftMicroBatch[" + rows + "×" + length + ", " + targets() + " targets]"; }
}
