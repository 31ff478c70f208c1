package dev.tina.training.layered;

import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.onnx.DecoderGraph;

import java.util.Locale;

/**
 * Peak resident memory of a gradient step through the whole-model graph ({@code --recompute none},
 * which keeps every activation for the backward pass), estimated from the model's shape and the
 * micro-batch's: what {@link Recompute#AUTO} weighs against the memory budget. Four parts:
 * <ul>
 *   <li>weights: every base parameter as float32 (ONNX Runtime computes in float32 on the CPU);</li>
 *   <li>per-token activations: {@value #FLOATS_PER_TOKEN_LAYER} × (hidden + intermediate) floats per
 *       token and layer (the norms, projections, MLP, LoRA branches and their gradients that
 *       ONNX Runtime holds at the backward pass's peak);</li>
 *   <li>attention: {@value #ATTENTION_COPIES} × heads × seq × seq floats per row and layer (scores and
 *       probabilities), times the share of them the graph's query blocks compute
 *       ({@link DecoderGraph#attentionShare}, 62.5%);</li>
 *   <li>the head: {@value #HEAD_COPIES} × vocabulary floats per target token (logits, softmax,
 *       their gradients and ONNX Runtime's arena rounding), plus a fixed {@value #OVERHEAD_GB} GB
 *       for the runtime and the JVM.</li>
 * </ul>
 * The coefficients are a least-squares fit to peaks measured with {@code tina bench train
 * --recompute none --low-memory} at six shapes of three models (docs/training.md, "Choosing the
 * pass"), rounded up so that the estimate is 0–25% above each measured peak; the attention share
 * came later, with the query blocks, and the peaks were measured again (0–30% above).
 */
public record MemoryEstimate(long weightBytes, long activationBytes, long attentionBytes, long headBytes, long overheadBytes) {
    static final int FLOATS_PER_TOKEN_LAYER = 21;
    static final double ATTENTION_COPIES = 2;
    static final int HEAD_COPIES = 7;
    static final double OVERHEAD_GB = 0.3;

    /**
     * @param rows    sequences in the micro-batch
     * @param length  tokens per sequence (prompt + completion, padded)
     * @param targets scored tokens (completion tokens) in the micro-batch
     */
    public static MemoryEstimate wholeGraph(ModelConfig c, int rows, int length, long targets) {
        if (rows < 1 || length < 1 || targets < 0) {
            throw new IllegalArgumentException("micro-batch shape must be positive, got " + rows + " × " + length + " with " + targets + " targets");
        }
        long tokens = (long) rows * length, layers = c.numHiddenLayers();
        long activations = 4L * FLOATS_PER_TOKEN_LAYER * (c.hiddenSize() + c.intermediateSize()) * tokens * layers;
        long attention = (long) (4 * ATTENTION_COPIES * DecoderGraph.attentionShare() * c.numAttentionHeads() * rows * (double) length * length * layers);
        long head = 4L * HEAD_COPIES * c.vocabSize() * targets;
        return new MemoryEstimate(4L * parameters(c), activations, attention, head, (long) (OVERHEAD_GB * 1e9));
    }

    /** The base model's parameter count. */
    public static long parameters(ModelConfig c) {
        long h = c.hiddenSize(), perLayer = 2 * h; // the two norms
        for (Projection p : Projection.values()) {
            perLayer += (long) p.inFeatures(c) * p.outFeatures(c) + (p.hasBias(c) ? p.outFeatures(c) : 0);
        }
        long embed = (long) c.vocabSize() * h;
        return embed * (c.tieWordEmbeddings() ? 1 : 2) + perLayer * c.numHiddenLayers() + h;
    }

    public long total() { return weightBytes + activationBytes + attentionBytes + headBytes + overheadBytes; }

    /** E.g. "22.3 GB (weights 7.1, activations 13.2, attention 0.6, head 0.8, runtime 0.5)". */
    public String describe() {
        return String.format(Locale.ROOT, "%.1f GB (weights %.1f, activations %.1f, attention %.1f, head %.1f, runtime %.1f)",
                total() / 1e9, weightBytes / 1e9, activationBytes / 1e9, attentionBytes / 1e9, headBytes / 1e9, overheadBytes / 1e9);
    }

}
