package dev.tina.training.parity;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.SafetensorsFile;
import dev.tina.export.checkpoint.TensorView;
import dev.tina.training.graph.Aggregation;
import dev.tina.training.graph.GrpoMicroBatch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A GRPO reference case (format of {@code ../shared/fixtures/README.md}) turned into the training
 * graph's inputs: the K completion tokens with their positions, ids, TRL "grpo" weights
 * (1 / (batch · tokens in the row)), advantages, old and reference log-probs, and the settings.
 */
public record ReferenceCase(long[] inputIds, long[] attentionMask, long[] positionIds, long[] shape,
                            long[] targetPositions, long[] targetIds, float[] tokenWeights, float[] advantages,
                            float[] oldLogps, float[] refLogps, float[] expectedLogps,
                            double temperature, double beta, double epsilonLow, double epsilonHigh) {

    public static ReferenceCase read(SafetensorsFile cs, Path caseJson) throws IOException {
        if (!Files.isRegularFile(caseJson)) throw new CheckpointFormatException(caseJson + ": not found (the case's temperature, beta and epsilon)");
        JsonNode settings = new ObjectMapper().readTree(caseJson.toFile());
        for (String f : List.of("temperature", "beta")) {
            if (!settings.has(f)) throw new CheckpointFormatException(caseJson + ": missing field '" + f + "'");
        }
        // TRL's epsilon, or its asymmetric epsilon_low / epsilon_high
        if (!settings.has("epsilon") && !(settings.has("epsilon_low") && settings.has("epsilon_high"))) {
            throw new CheckpointFormatException(caseJson + ": missing field 'epsilon' (or 'epsilon_low' and 'epsilon_high')");
        }
        double epsLow = settings.has("epsilon_low") ? settings.get("epsilon_low").asDouble() : settings.get("epsilon").asDouble();
        double epsHigh = settings.has("epsilon_high") ? settings.get("epsilon_high").asDouble() : settings.get("epsilon").asDouble();
        long[] ids = cs.tensor("input_ids").toLongArray();
        long[] shape = cs.tensor("input_ids").shape();
        int batch = (int) shape[0], seq = (int) shape[1];
        TensorView completion = cs.tensor("completion_mask");
        float[] adv = cs.tensor("advantages").toFloatArray(), old = cs.tensor("old_logps").toFloatArray(),
                ref = cs.tensor("ref_logps").toFloatArray(), logps = cs.tensor("logps").toFloatArray();
        List<Integer> k = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < seq - 1; t++) {
                if (completion.getFloat((long) b * (seq - 1) + t) > 0) k.add(b * (seq - 1) + t);
            }
        }
        int n = k.size();
        long[] targetPos = new long[n], targetIds = new long[n];
        int[] rowOfToken = new int[n];
        for (int i = 0; i < n; i++) rowOfToken[i] = k.get(i) / (seq - 1);
        float[] weights = new Aggregation.Grpo().weights(rowOfToken, batch, seq - 1); // the case's loss is TRL's "grpo"
        float[] advK = new float[n], oldK = new float[n], refK = new float[n], wantLogps = new float[n];
        for (int i = 0; i < n; i++) {
            int b = k.get(i) / (seq - 1), t = k.get(i) % (seq - 1);
            targetPos[i] = (long) b * seq + t;
            targetIds[i] = ids[b * seq + t + 1];
            advK[i] = adv[b];
            oldK[i] = old[k.get(i)];
            refK[i] = ref[k.get(i)];
            wantLogps[i] = logps[k.get(i)];
        }
        return new ReferenceCase(ids, cs.tensor("attention_mask").toLongArray(), cs.tensor("position_ids").toLongArray(), shape,
                targetPos, targetIds, weights, advK, oldK, refK, wantLogps,
                settings.get("temperature").asDouble(), settings.get("beta").asDouble(), epsLow, epsHigh);
    }

    /** The case as a micro-batch (index 0) at LoRA scale {@code loraScale}. */
    public GrpoMicroBatch batch(double loraScale) {
        return new GrpoMicroBatch(0, Math.toIntExact(shape[0]), Math.toIntExact(shape[1]), inputIds, attentionMask, positionIds,
                targetPositions, targetIds, tokenWeights, advantages, oldLogps, refLogps, (float) loraScale, (float) temperature,
                (float) beta, (float) epsilonLow, (float) epsilonHigh, null);
    }
}
