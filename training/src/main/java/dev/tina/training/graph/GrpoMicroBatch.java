package dev.tina.training.graph;

import java.io.Serial;
import java.io.Serializable;
import java.util.Arrays;
import java.util.Objects;

/**
 * One GRPO micro-batch as the {@link LossHead.Grpo} graph's inputs, typed: the message a step
 * hands to whatever computes its gradients (this process, or a Spark executor). {@code index} is
 * the micro-batch's place in its optimizer step, the order in which gradients are summed.
 *
 * <p>Shapes: {@code inputIds}, {@code attentionMask}, {@code positionIds} [rows × length];
 * {@code targetPositions} (flat b·length + t), {@code targetIds}, {@code tokenWeights},
 * {@code advantages}, {@code oldLogps}, {@code refLogps} [K]. {@code dropoutSeed} is null when
 * the graph has no LoRA dropout.
 */
public record GrpoMicroBatch(int index, int rows, int length, long[] inputIds, long[] attentionMask, long[] positionIds,
                             long[] targetPositions, long[] targetIds, float[] tokenWeights, float[] advantages,
                             float[] oldLogps, float[] refLogps, float loraScale, float temperature, float beta,
                             float epsilonLow, float epsilonHigh, Long dropoutSeed) implements MicroBatch, Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    public GrpoMicroBatch {
        if (index < 0) throw new IllegalArgumentException("micro-batch index must be >= 0, got " + index);
        String what = "micro-batch " + index;
        MicroBatch.checkShapes(what, rows, length, inputIds, attentionMask, positionIds, targetPositions, targetIds, tokenWeights);
        int k = targetIds.length;
        MicroBatch.checkCount(what, TrainingInput.ADVANTAGES, advantages.length, k);
        MicroBatch.checkCount(what, TrainingInput.OLD_LOGPS, oldLogps.length, k);
        MicroBatch.checkCount(what, TrainingInput.REF_LOGPS, refLogps.length, k);
    }

    @Override
    public Object values(TrainingInput in) {
        return switch (in) {
            case ADVANTAGES -> advantages;
            case OLD_LOGPS -> oldLogps;
            case REF_LOGPS -> refLogps;
            case BETA -> new float[]{beta};
            case EPSILON_LOW -> new float[]{epsilonLow};
            case EPSILON_HIGH -> new float[]{epsilonHigh};
            default -> commonValues(in);
        };
    }

    /** The same tokens for the reference pass: adapter off (lora_scale 0), no dropout, ref_logps unused. */
    public GrpoMicroBatch forReference() {
        return new GrpoMicroBatch(index, rows, length, inputIds, attentionMask, positionIds, targetPositions, targetIds, tokenWeights,
                advantages, oldLogps, new float[targets()], 0f, temperature, beta, epsilonLow, epsilonHigh, null);
    }

    public GrpoMicroBatch withRefLogps(float[] ref) {
        return new GrpoMicroBatch(index, rows, length, inputIds, attentionMask, positionIds, targetPositions, targetIds, tokenWeights,
                advantages, oldLogps, ref, loraScale, temperature, beta, epsilonLow, epsilonHigh, dropoutSeed);
    }

    /** The same inputs with LoRA dropout seeded by {@code seed}. */
    public GrpoMicroBatch withDropoutSeed(long seed) {
        return new GrpoMicroBatch(index, rows, length, inputIds, attentionMask, positionIds, targetPositions, targetIds, tokenWeights,
                advantages, oldLogps, refLogps, loraScale, temperature, beta, epsilonLow, epsilonHigh, seed);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GrpoMicroBatch m && index == m.index && rows == m.rows && length == m.length
                && Arrays.equals(inputIds, m.inputIds) && Arrays.equals(attentionMask, m.attentionMask) && Arrays.equals(positionIds, m.positionIds)
                && Arrays.equals(targetPositions, m.targetPositions) && Arrays.equals(targetIds, m.targetIds)
                && Arrays.equals(tokenWeights, m.tokenWeights) && Arrays.equals(advantages, m.advantages)
                && Arrays.equals(oldLogps, m.oldLogps) && Arrays.equals(refLogps, m.refLogps)
                && Float.compare(loraScale, m.loraScale) == 0 && Float.compare(temperature, m.temperature) == 0
                && Float.compare(beta, m.beta) == 0 && Float.compare(epsilonLow, m.epsilonLow) == 0
                && Float.compare(epsilonHigh, m.epsilonHigh) == 0 && Objects.equals(dropoutSeed, m.dropoutSeed);
    }

    @Override
    public int hashCode() { return 31 * index + Arrays.hashCode(targetIds); }

    @Override
    public String toString() { return "GrpoMicroBatch[" + index + ": " + rows + "×" + length + ", " + targets() + " targets]"; }
}
