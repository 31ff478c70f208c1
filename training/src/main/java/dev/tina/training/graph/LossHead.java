package dev.tina.training.graph;

import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.onnx.GraphBuilder;

import java.util.List;

import static dev.tina.export.onnx.GraphBuilder.FLOAT;
import static dev.tina.export.onnx.GraphBuilder.INT64;
import static dev.tina.export.onnx.GraphBuilder.attr;
import static dev.tina.export.onnx.GraphBuilder.attrInts;
import static dev.tina.training.graph.TrainingInput.ADVANTAGES;
import static dev.tina.training.graph.TrainingInput.BETA;
import static dev.tina.training.graph.TrainingInput.EPSILON_HIGH;
import static dev.tina.training.graph.TrainingInput.EPSILON_LOW;
import static dev.tina.training.graph.TrainingInput.OLD_LOGPS;
import static dev.tina.training.graph.TrainingInput.REF_LOGPS;
import static dev.tina.training.graph.TrainingInput.TARGET_IDS;
import static dev.tina.training.graph.TrainingInput.TARGET_POSITIONS;
import static dev.tina.training.graph.TrainingInput.TEMPERATURE;
import static dev.tina.training.graph.TrainingInput.TOKEN_WEIGHTS;

/**
 * The loss at the top of a training graph. Both heads score only the K completion tokens: the
 * final hidden states are gathered at their positions before the LM head, so the logits are
 * [K, vocab] rather than [batch × seq, vocab] (the tensor that dominates RL memory at a 150k
 * vocabulary). The loss is Σₖ wₖ · ℓₖ with per-token weights given as an input, so the
 * aggregations (per-sequence mean, token mean, Dr. GRPO's constant) are a choice of weights made
 * by the trainer, not different graphs.
 *
 * <p>Inputs: {@code target_positions} [K] (flat index b·S + t of the position predicting token
 * t+1), {@code target_ids} [K], {@code token_weights} [K], {@code temperature} [1]; GRPO adds
 * {@code advantages}, {@code old_logps}, {@code ref_logps} [K] and {@code beta},
 * {@code epsilon_low}, {@code epsilon_high} [1]. Outputs: {@code loss} (scalar), {@code logps} [K]
 * (log-probabilities of the targets at the given temperature); GRPO adds {@code kl} [K].
 */
public sealed interface LossHead extends DecoderGraph.Head permits LossHead.Grpo, LossHead.Sft {
    String LOSS = "loss", LOGPS = "logps", KL = "kl";

    /** Log-probabilities of the target tokens under softmax(logits / temperature), at the K positions. */
    static String targetLogps(GraphBuilder g, String h, String w) {
        // each position predicts one target: the gradient writes rows instead of summing them
        String hk = g.uniqueIndices(g.op("Gather", List.of(h, TARGET_POSITIONS.graphName()), attr("axis", 0L))); // [K, H]
        // (h/T)·Wᵀ = (h·Wᵀ)/T: dividing the [K, H] rows rather than the [K, V] logits saves a
        // vocabulary-wide pass forward and backward
        String scaled = g.op("Gemm", List.of(g.op("Div", List.of(hk, TEMPERATURE.graphName())), w), attr("transB", 1L)); // [K, V]
        // LogSoftmax, not target − ReduceLogSumExp: ONNX Runtime's LogSoftmax is one vectorised kernel
        // (MLAS) and its gradient (GradientRules) elementwise passes, where ReduceLogSumExp was a slow
        // generic reduction forward and five vocabulary-wide passes backward (stories15M 8 × 256: 172
        // of 1,170 ms a step)
        String logSoftmax = g.op("LogSoftmax", List.of(scaled), attr("axis", -1L));                     // [K, V]
        String ids = g.op("Unsqueeze", List.of(TARGET_IDS.graphName(), g.constInt64(1)));
        return g.opNamed("Squeeze", LOGPS, List.of(g.op("GatherElements", List.of(logSoftmax, ids), attr("axis", 1L)), g.constInt64(1)));
    }

    static void commonInputs(GraphBuilder g) {
        g.input(TARGET_POSITIONS.graphName(), INT64, "num_targets");
        g.input(TARGET_IDS.graphName(), INT64, "num_targets");
        g.input(TOKEN_WEIGHTS.graphName(), FLOAT, "num_targets");
        g.input(TEMPERATURE.graphName(), FLOAT, 1);
    }

    static String weightedSum(GraphBuilder g, String perToken) {
        return g.opNamed("ReduceSum", LOSS, List.of(g.op("Mul", List.of(perToken, TOKEN_WEIGHTS.graphName()))), attr("keepdims", 0L));
    }

    /**
     * TRL's GRPO per-token loss: −min(ρA, clip(ρ, 1−ε_low, 1+ε_high)A) + β·(e^(r−ℓ) − (r−ℓ) − 1),
     * ρ = e^(ℓ − ℓ_old), r the reference (adapter-off) log-probability.
     */
    record Grpo() implements LossHead {
        @Override
        public void build(GraphBuilder g, ModelConfig c, String h, String w, String batchDim, String seqDim) {
            commonInputs(g);
            String adv = ADVANTAGES.graphName(), old = OLD_LOGPS.graphName(), ref = REF_LOGPS.graphName();
            String beta = BETA.graphName(), epsLow = EPSILON_LOW.graphName(), epsHigh = EPSILON_HIGH.graphName();
            for (String in : List.of(adv, old, ref)) g.input(in, FLOAT, "num_targets");
            for (String in : List.of(beta, epsLow, epsHigh)) g.input(in, FLOAT, 1);
            String logps = targetLogps(g, h, w);
            String ratio = g.op("Exp", List.of(g.op("Sub", List.of(logps, old))));
            String one = g.constFloat(1f);
            String lo = g.op("Sub", List.of(one, epsLow)), hi = g.op("Add", List.of(one, epsHigh));
            String clipped = g.op("Min", List.of(g.op("Max", List.of(ratio, lo)), hi));
            String unclippedTerm = g.op("Mul", List.of(ratio, adv));
            String clippedTerm = g.op("Mul", List.of(clipped, adv));
            String policy = g.op("Neg", List.of(g.op("Min", List.of(unclippedTerm, clippedTerm))));
            String diff = g.op("Sub", List.of(ref, logps));
            String kl = g.opNamed("Sub", KL, List.of(g.op("Sub", List.of(g.op("Exp", List.of(diff)), diff)), one));
            String perToken = g.op("Add", List.of(policy, g.op("Mul", List.of(beta, kl))));
            weightedSum(g, perToken);
            g.output(LOSS, FLOAT);
            g.output(LOGPS, FLOAT, "num_targets");
            g.output(KL, FLOAT, "num_targets");
        }
    }

    /** Supervised fine-tuning: cross-entropy −ℓ on the target tokens. */
    record Sft() implements LossHead {
        @Override
        public void build(GraphBuilder g, ModelConfig c, String h, String w, String batchDim, String seqDim) {
            commonInputs(g);
            String logps = targetLogps(g, h, w);
            weightedSum(g, g.op("Neg", List.of(logps)));
            g.output(LOSS, FLOAT);
            g.output(LOGPS, FLOAT, "num_targets");
        }
    }
}
