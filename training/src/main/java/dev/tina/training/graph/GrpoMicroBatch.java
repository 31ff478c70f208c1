package dev.tina.training.graph;

import dev.tina.export.onnx.DecoderGraph;
import dev.tina.training.ort.LoraTrainingSession;

import java.io.Serial;
import java.io.Serializable;
import java.util.Arrays;

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
                             float epsilonLow, float epsilonHigh, Long dropoutSeed) implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    /** The graph's input names: the one place they are spelled for a GRPO step. */
    public static final String INPUT_IDS = "input_ids", ATTENTION_MASK = "attention_mask", POSITION_IDS = "position_ids",
            LORA_SCALE = DecoderGraph.LORA_SCALE, TARGET_POSITIONS = "target_positions", TARGET_IDS = "target_ids",
            TOKEN_WEIGHTS = "token_weights", TEMPERATURE = "temperature", ADVANTAGES = "advantages", OLD_LOGPS = "old_logps",
            REF_LOGPS = "ref_logps", BETA = "beta", EPSILON_LOW = "epsilon_low", EPSILON_HIGH = "epsilon_high";

    public GrpoMicroBatch {
        if (index < 0) throw new IllegalArgumentException("micro-batch index must be >= 0, got " + index);
        if (rows < 1 || length < 1) throw new IllegalArgumentException("micro-batch " + index + ": shape [" + rows + ", " + length + "] is empty");
        long cells = (long) rows * length;
        check(index, INPUT_IDS, inputIds.length, cells);
        check(index, ATTENTION_MASK, attentionMask.length, cells);
        check(index, POSITION_IDS, positionIds.length, cells);
        int k = targetIds.length;
        check(index, TARGET_POSITIONS, targetPositions.length, k);
        check(index, TOKEN_WEIGHTS, tokenWeights.length, k);
        check(index, ADVANTAGES, advantages.length, k);
        check(index, OLD_LOGPS, oldLogps.length, k);
        check(index, REF_LOGPS, refLogps.length, k);
        for (long p : targetPositions) {
            if (p < 0 || p >= cells) throw new IllegalArgumentException("micro-batch " + index + ": target position " + p + " outside [0, " + cells + ")");
        }
    }

    private static void check(int index, String name, long got, long want) {
        if (got != want) throw new IllegalArgumentException("micro-batch " + index + ": '" + name + "' has " + got + " values, expected " + want);
    }

    public int targets() { return targetIds.length; }

    /** The same tokens for the reference pass: adapter off (lora_scale 0), no dropout, ref_logps unused. */
    public GrpoMicroBatch forReference() {
        return new GrpoMicroBatch(index, rows, length, inputIds, attentionMask, positionIds, targetPositions, targetIds, tokenWeights,
                advantages, oldLogps, new float[targets()], 0f, temperature, beta, epsilonLow, epsilonHigh, null);
    }

    public GrpoMicroBatch withRefLogps(float[] ref) {
        return new GrpoMicroBatch(index, rows, length, inputIds, attentionMask, positionIds, targetPositions, targetIds, tokenWeights,
                advantages, oldLogps, ref, loraScale, temperature, beta, epsilonLow, epsilonHigh, dropoutSeed);
    }

    /** The inputs as an ONNX Runtime feed (arrays shared, not copied). */
    public LoraTrainingSession.Batch toBatch() {
        long[] shape = {rows, length};
        int k = targets();
        LoraTrainingSession.Batch b = new LoraTrainingSession.Batch()
                .longs(INPUT_IDS, inputIds, shape).longs(ATTENTION_MASK, attentionMask, shape).longs(POSITION_IDS, positionIds, shape)
                .floats(LORA_SCALE, new float[]{loraScale}, 1)
                .longs(TARGET_POSITIONS, targetPositions, k).longs(TARGET_IDS, targetIds, k)
                .floats(TOKEN_WEIGHTS, tokenWeights, k).floats(TEMPERATURE, new float[]{temperature}, 1)
                .floats(ADVANTAGES, advantages, k).floats(OLD_LOGPS, oldLogps, k).floats(REF_LOGPS, refLogps, k)
                .floats(BETA, new float[]{beta}, 1).floats(EPSILON_LOW, new float[]{epsilonLow}, 1)
                .floats(EPSILON_HIGH, new float[]{epsilonHigh}, 1);
        if (dropoutSeed != null) b.longs(DecoderGraph.DROPOUT_SEED, new long[]{dropoutSeed}, 1);
        return b;
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
                && Float.compare(epsilonHigh, m.epsilonHigh) == 0 && java.util.Objects.equals(dropoutSeed, m.dropoutSeed);
    }

    @Override
    public int hashCode() { return 31 * index + Arrays.hashCode(targetIds); }

    @Override
    public String toString() { return "GrpoMicroBatch[" + index + ": " + rows + "×" + length + ", " + targets() + " targets]"; }
}
