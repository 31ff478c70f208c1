package dev.tina.export.onnx;

import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.HfCheckpoint;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.checkpoint.RopeFrequencies;
import dev.tina.export.checkpoint.TensorView;
import dev.tina.export.onnx.proto.Onnx.GraphProto;
import dev.tina.export.onnx.proto.Onnx.TensorProto;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.export.quant.QuantizedWeights;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static dev.tina.export.onnx.GraphBuilder.BOOL;
import static dev.tina.export.onnx.GraphBuilder.FLOAT;
import static dev.tina.export.onnx.GraphBuilder.INT32;
import static dev.tina.export.onnx.GraphBuilder.INT64;
import static dev.tina.export.onnx.GraphBuilder.attr;
import static dev.tina.export.onnx.GraphBuilder.attrInts;

/**
 * Builds the decoder graph of a Llama-family checkpoint (Qwen2 differs only by q/k/v biases, which
 * {@link ModelConfig#qkvBias()} switches on) with a KV cache and LoRA inputs.
 *
 * <p>The residual stream is kept 2-D, [N = batch × sequence, hidden], so that every projection
 * is one {@code Gemm} with {@code transB=1} on the checkpoint's own [out, in] layout: weights are
 * copied, never transposed, and tied embeddings share one initializer. Attention runs in 5-D,
 * [batch, kv_heads, group, sequence, head_dim], so grouped-query attention needs no copy of K/V.
 * Computation is float32; {@code --dtype fp16|bf16} stores the weights in that type and casts them
 * (ONNX Runtime folds the casts when it loads the model).
 */
public final class DecoderGraph {
    public static final String LORA_SCALE = "lora_scale";
    public static final String LORA_RANK = "lora_rank";
    /** Outputs: logits at every position, and at the last position only. */
    public static final String LOGITS = "logits", LAST_LOGITS = "last_logits";

    /** Where the weights come from: each call adds one initializer and says its storage dtype. */
    public interface WeightSource {
        DType add(GraphBuilder g, String name, long[] shape) throws IOException;
    }

    /** What the graph computes from the final hidden states [N = batch × seq, hidden]. */
    public interface Head {
        void build(GraphBuilder g, ModelConfig c, String hidden2d, String lmHeadWeight, String batchDim, String seqDim) throws Exception;
    }

    /**
     * A graph variant: with a KV cache (inference) or without (training: one pass over whole
     * sequences); LoRA rank symbolic ({@code null}) or fixed; and the head. With
     * {@code inPlaceCache} the cache is ONNX Runtime's GroupQueryAttention over preallocated
     * buffers (see {@link #inPlace()}); its head is fixed (last logits per row) and {@code head} is unused.
     */
    public record Variant(boolean kvCache, Integer loraRank, Head head, double loraDropout, boolean inPlaceCache) {
        public Variant {
            if (!(loraDropout >= 0 && loraDropout < 1)) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + loraDropout);
            if (loraDropout > 0 && kvCache) throw new IllegalArgumentException("LoRA dropout belongs to training graphs only");
            if (inPlaceCache && !kvCache) throw new IllegalArgumentException("an in-place cache is a KV cache");
            if (head == null && !inPlaceCache) throw new IllegalArgumentException("head is required");
        }

        public Variant(boolean kvCache, Integer loraRank, Head head, double loraDropout) { this(kvCache, loraRank, head, loraDropout, false); }

        public Variant(boolean kvCache, Integer loraRank, Head head) { this(kvCache, loraRank, head, 0.0); }

        /** The sampling graph: concatenating KV cache, logits at the last position only (never [batch, seq, vocab]). */
        public static Variant inference() { return new Variant(true, null, new InferenceHead(false)); }

        /** Concatenating KV cache with logits at every position too (parity, scoring, TensorRT's full-logits engine). */
        public static Variant fullLogits() { return new Variant(true, null, new InferenceHead(true)); }

        /**
         * The CPU sampling graph: each layer's cache is one buffer [batch, kv_heads, max_length, head_dim]
         * that GroupQueryAttention writes in place when the same tensor is bound as past input and
         * present output; rows are right-padded, their lengths given by {@link #SEQLENS_K}.
         */
        public static Variant inPlace() { return new Variant(true, null, null, 0.0, true); }
    }

    /** The heads of the inference graphs: last-position logits, and with {@code full} logits at every position too. */
    record InferenceHead(boolean full) implements Head {
        @Override
        public void build(GraphBuilder g, ModelConfig c, String h, String w, String batchDim, String seqDim) {
            build(g, c, h, x -> g.op("Gemm", List.of(x, w), attr("transB", 1L)), batchDim, seqDim);
        }

        void build(GraphBuilder g, ModelConfig c, String h, java.util.function.UnaryOperator<String> project, String batchDim, String seqDim) {
            if (full) logitsHead(g, c, h, project, batchDim, seqDim);
            else lastLogitsHead(g, c, h, project, batchDim, seqDim);
        }
    }

    /** In-place graph inputs: per row, tokens in the cache after this pass minus one (int32 [batch]); and GQA's total length (int32 scalar). */
    public static final String SEQLENS_K = "seqlens_k", TOTAL_SEQUENCE_LENGTH = "total_sequence_length";

    private final GraphBuilder g;
    private final ModelConfig c;
    private final WeightSource weights;
    private final List<Projection> loraTargets;
    private final Variant variant;
    /** Null for full-precision graphs; else the source of the quantized projections (inference graphs only). */
    private final QuantizedWeights quantized;
    private final java.util.Set<String> castDone = new java.util.HashSet<>();
    private final Map<String, DType> storage = new HashMap<>();

    private boolean dropoutSeedDeclared;
    private String batchDim, seqDim, qShape, kvShape, cos4, sin4, cos5, sin5, maskBias;
    /** Without a cache: the query blocks, made once per graph and shared by the layers. */
    private QueryBlock[] blocks;

    /**
     * One query block (int64 [1] values): the rows it computes, [from, to) ⊇ its own [lo, hi) and
     * never empty; its own rows within those, [keepFrom, keepTo) = [lo − from, hi − from); and the
     * mask bias of the computed rows over keys [0, to).
     */
    private record QueryBlock(String from, String to, String keepFrom, String keepTo, String bias) { }
    /**
     * Query blocks of a pass without a cache (training, scoring): block k's queries [lo, hi) see
     * only keys [0, hi), so the causal upper triangle outside the diagonal blocks is never computed:
     * (K + 1) / 2K of the full S × S products, softmax and their gradients (62.5% at K = 4).
     */
    static final int QUERY_BLOCKS = 4;

    /** The share of the S × S attention tensors a pass without a cache computes: (K + 1) / 2K for K query blocks. */
    public static double attentionShare() { return (QUERY_BLOCKS + 1) / (2.0 * QUERY_BLOCKS); }

    private DecoderGraph(GraphBuilder g, ModelConfig c, WeightSource weights, List<Projection> loraTargets, Variant variant,
                         QuantizedWeights quantized) {
        if (quantized != null && !variant.kvCache()) throw new IllegalArgumentException("quantized weights are for inference graphs only");
        this.quantized = quantized;
        this.g = g;
        this.c = c;
        this.weights = weights;
        this.loraTargets = loraTargets;
        this.variant = variant;
    }

    /** Builds the inference graph into {@code g}, streaming weights from {@code ckpt}; {@code progress} gets each weight's bytes. */
    public static void build(GraphBuilder g, HfCheckpoint ckpt, DType storage, List<Projection> loraTargets,
                             java.util.function.LongConsumer progress) throws Exception {
        build(g, ckpt.config(), streamFrom(ckpt, storage, progress), loraTargets, Variant.inference());
    }

    public static void build(GraphBuilder g, ModelConfig c, WeightSource weights, List<Projection> loraTargets, Variant variant)
            throws Exception {
        new DecoderGraph(g, c, weights, loraTargets, variant, null).build();
    }

    /**
     * An inference graph whose base projections (and with {@link QuantizedWeights.Settings#head()} the
     * LM head) are MatMulNBits over {@code quantized}; every other weight comes from {@code weights}.
     * The LoRA branches stay float32 graph inputs.
     */
    public static void buildQuantized(GraphBuilder g, ModelConfig c, WeightSource weights, List<Projection> loraTargets, Variant variant,
                                      QuantizedWeights quantized) throws Exception {
        new DecoderGraph(g, c, weights, loraTargets, variant, quantized).build();
    }

    /** Weights streamed from a checkpoint into the builder's external-data file, stored as {@code storage}. */
    public static WeightSource streamFrom(HfCheckpoint ckpt, DType storage, java.util.function.LongConsumer progress) {
        return (g, name, shape) -> {
            TensorView t = ckpt.tensor(name, shape);
            long bytes = TensorView.numel(shape) * storage.byteSize();
            g.weight(name, storage, shape, bytes, out -> t.writeAs(storage, out));
            progress.accept(bytes);
            return storage;
        };
    }

    /**
     * Weights already written by another graph of the same export: each initializer is added as
     * that graph declared it (pointing into the same external-data file), so several graphs share
     * one weights file.
     */
    public static WeightSource reusing(GraphProto built) {
        Map<String, TensorProto> byName = new HashMap<>();
        for (var t : built.getInitializerList()) byName.put(t.getName(), t);
        return (g, name, shape) -> {
            var t = byName.get(name);
            if (t == null) throw new IllegalArgumentException("weight '" + name + "' is not in graph '" + built.getName() + "'");
            g.addInitializer(t);
            for (DType d : DType.values()) if (d.onnxCode() == t.getDataType()) return d;
            throw new IllegalArgumentException("weight '" + name + "' has ONNX data type " + t.getDataType());
        };
    }

    public static String pastKey(int layer) { return "past_key_values." + layer + ".key"; }
    public static String pastValue(int layer) { return "past_key_values." + layer + ".value"; }
    public static String presentKey(int layer) { return "present." + layer + ".key"; }
    public static String presentValue(int layer) { return "present." + layer + ".value"; }

    private void build() throws Exception {
        int kvh = c.numKeyValueHeads(), d = c.headDim();
        g.input("input_ids", INT64, "batch_size", "sequence_length");
        if (variant.inPlaceCache()) {
            declareInPlaceInputs();
        } else {
            g.input("attention_mask", INT64, "batch_size", "total_sequence_length");
        }
        g.input("position_ids", INT64, "batch_size", "sequence_length");
        for (int i = 0; variant.kvCache() && !variant.inPlaceCache() && i < c.numHiddenLayers(); i++) {
            g.input(pastKey(i), FLOAT, "batch_size", kvh, "past_sequence_length", d);
            g.input(pastValue(i), FLOAT, "batch_size", kvh, "past_sequence_length", d);
        }
        if (!loraTargets.isEmpty()) {
            g.input(LORA_SCALE, FLOAT, 1);
            Object rank = variant.loraRank() == null ? LORA_RANK : variant.loraRank();
            for (int i = 0; i < c.numHiddenLayers(); i++) {
                for (Projection p : loraTargets) {
                    g.input(PeftAdapter.tensorName(i, p, 'A'), FLOAT, rank, p.inFeatures(c));
                    g.input(PeftAdapter.tensorName(i, p, 'B'), FLOAT, p.outFeatures(c), rank);
                }
            }
        }

        String h;
        try (var s = g.scope("model")) {
            prelude();
            try (var e = g.scope("embed_tokens")) {
                String ids = g.op("Reshape", List.of("input_ids", g.constInt64(-1)));
                String table = "model.embed_tokens.weight";
                if (quantized != null && storedAs(table, c.vocabSize(), c.hiddenSize()) != DType.F32) {
                    // gather the 16-bit rows, then cast: the table stays at 2 bytes a value in memory (ONNX Runtime folds a Cast of a whole initializer to float32)
                    h = g.op("Cast", List.of(g.op("Gather", List.of(table, ids), attr("axis", 0L))), attr("to", (long) FLOAT));
                } else {
                    h = g.op("Gather", List.of(weight(table, c.vocabSize(), c.hiddenSize()), ids), attr("axis", 0L));
                }
            }
            for (int i = 0; i < c.numHiddenLayers(); i++) {
                try (var l = g.scope("layers." + i)) {
                    h = layer(i, h);
                }
            }
            try (var n = g.scope("norm")) {
                h = rmsNorm(h, "model.norm.weight");
            }
        }
        String headName = c.tieWordEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight";
        try (var s = g.scope("lm_head")) {
            if (quantized != null && quantized.settings().head()) {
                java.util.function.UnaryOperator<String> project = x -> quantizedMatMul(x, headName, c.vocabSize(), c.hiddenSize());
                if (variant.inPlaceCache()) inPlaceLastLogitsHead(h, project);
                else ((InferenceHead) variant.head()).build(g, c, h, project, batchDim, seqDim);
            } else {
                String w = weight(headName, c.vocabSize(), c.hiddenSize());
                if (variant.inPlaceCache()) inPlaceLastLogitsHead(h, x -> g.op("Gemm", List.of(x, w), attr("transB", 1L)));
                else variant.head().build(g, c, h, w, batchDim, seqDim);
            }
        }
        String cacheLength = variant.inPlaceCache() ? "max_sequence_length" : "total_sequence_length";
        for (int i = 0; variant.kvCache() && i < c.numHiddenLayers(); i++) {
            g.output(presentKey(i), FLOAT, "batch_size", kvh, cacheLength, d);
            g.output(presentValue(i), FLOAT, "batch_size", kvh, cacheLength, d);
        }
    }

    /** The full head: logits at every position, and at the last position. */
    static void logitsHead(GraphBuilder g, ModelConfig c, String h, java.util.function.UnaryOperator<String> project, String batchDim, String seqDim) {
        String logits2d = project.apply(h);
        String shape = g.op("Concat", List.of(batchDim, seqDim, g.constInt64(c.vocabSize())), attr("axis", 0L));
        g.opNamed("Reshape", LOGITS, List.of(logits2d, shape));
        lastLogitsHead(g, c, h, project, batchDim, seqDim);
        g.output(LOGITS, FLOAT, "batch_size", "sequence_length", c.vocabSize());
    }

    /**
     * The sampling head: logits at the last position only. It is its own graph because ONNX
     * Runtime runs every node of a graph whatever outputs are fetched: a [batch, seq, vocab] head
     * beside it cost 1.2 MB per prompt token at Qwen's vocabulary (measured, issue 13).
     */
    static void lastLogitsHead(GraphBuilder g, ModelConfig c, String h, java.util.function.UnaryOperator<String> project, String batchDim, String seqDim) {
        String h3 = g.op("Reshape", List.of(h, g.op("Concat", List.of(batchDim, seqDim, g.constInt64(c.hiddenSize())),
                attr("axis", 0L))));
        String lastIndex = g.op("Squeeze", List.of(g.op("Sub", List.of(seqDim, g.constInt64(1))), g.constInt64(0)));
        String lastHidden = g.op("Gather", List.of(h3, lastIndex), attr("axis", 1L));      // [B, H]
        g.opNamed("Identity", LAST_LOGITS, List.of(project.apply(lastHidden)));
        g.output(LAST_LOGITS, FLOAT, "batch_size", c.vocabSize());
    }

    /** In-place graph inputs: per-row lengths, GQA's total length and one preallocated cache buffer per layer and K/V. */
    private void declareInPlaceInputs() {
        int kvh = c.numKeyValueHeads(), d = c.headDim();
        g.input(SEQLENS_K, GraphBuilder.INT32, "batch_size");
        g.input(TOTAL_SEQUENCE_LENGTH, GraphBuilder.INT32);
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            g.input(pastKey(i), FLOAT, "batch_size", kvh, "max_sequence_length", d);
            g.input(pastValue(i), FLOAT, "batch_size", kvh, "max_sequence_length", d);
        }
    }

    /**
     * Right-padded rows: row b's last token of this pass sits at min(seqlens_k[b], seq − 1)
     * (prefill from an empty cache: its length − 1; a decode step: 0). Logits there only.
     */
    private void inPlaceLastLogitsHead(String h, java.util.function.UnaryOperator<String> project) {
        String seqLen = g.op("Cast", List.of(SEQLENS_K), attr("to", (long) INT64));                  // [B]
        String index = g.op("Min", List.of(seqLen, g.op("Sub", List.of(seqDim, g.constInt64(1)))));
        String batch = g.op("Squeeze", List.of(batchDim, g.constInt64(0)));
        String rowStart = g.op("Mul", List.of(g.op("Range", List.of(g.constInt64Scalar(0), batch, g.constInt64Scalar(1))), seqDim));
        String lastHidden = g.op("Gather", List.of(h, g.op("Add", List.of(rowStart, index))), attr("axis", 0L)); // [B, H]
        g.opNamed("Identity", LAST_LOGITS, List.of(project.apply(lastHidden)));
        g.output(LAST_LOGITS, FLOAT, "batch_size", c.vocabSize());
    }

    /**
     * Attention through {@code com.microsoft.GroupQueryAttention} (CPU, float32) on right-padded
     * rows. RoPE is applied here with the same tables as the other graphs (do_rotary off), so K
     * enters the cache rotated. When the caller binds one tensor as both past and present, the
     * kernel writes this pass's K/V at each row's own offset (seqlens_k) and copies nothing else;
     * attention per row reads only its seqlens_k + 1 cached positions.
     */
    private String inPlaceAttention(int i, String q, String k, String v) {
        int h = c.numAttentionHeads(), kvh = c.numKeyValueHeads(), d = c.headDim();
        // cos4 is [B, 1, S, D]; on [B, S, heads, D] tensors RoPE needs [B, S, 1, D].
        String cos = g.op("Transpose", List.of(cos4), attrInts("perm", 0, 2, 1, 3));
        String sin = g.op("Transpose", List.of(sin4), attrInts("perm", 0, 2, 1, 3));
        String qShape4 = g.op("Concat", List.of(batchDim, seqDim, g.constInt64(h, d)), attr("axis", 0L));
        String qRot = rope(g, g.op("Reshape", List.of(q, qShape4)), cos, sin, d);
        String kRot = rope(g, g.op("Reshape", List.of(k, kvShape)), cos, sin, d);
        String q3 = g.op("Reshape", List.of(qRot, g.op("Concat", List.of(batchDim, seqDim, g.constInt64((long) h * d)), attr("axis", 0L))));
        String kv3Shape = g.op("Concat", List.of(batchDim, seqDim, g.constInt64((long) kvh * d)), attr("axis", 0L));
        String k3 = g.op("Reshape", List.of(kRot, kv3Shape));
        String v3 = g.op("Reshape", List.of(v, kv3Shape));
        String[] out = g.opOutputs("com.microsoft", "GroupQueryAttention", java.util.Arrays.asList(null, presentKey(i), presentValue(i)),
                List.of(q3, k3, v3, pastKey(i), pastValue(i), SEQLENS_K, TOTAL_SEQUENCE_LENGTH),
                attr("num_heads", (long) h), attr("kv_num_heads", (long) kvh), attr("scale", (float) (1.0 / Math.sqrt(d))));
        return g.op("Reshape", List.of(out[0], g.constInt64(-1, (long) h * d)));
    }

    /**
     * RoPE's cos and sin [B, S, head_dim] at the int64 positions {@code positionIds} [B, S], for
     * any graph (inference or training). Angles are never formed in float32: with p = 256·h + l,
     * cos/sin of h·256·f and of l·f come from two small double-precision tables
     * ({@link RopeFrequencies#cosSinTable}) and are combined by the angle-addition formulas, so the
     * error stays at float rounding (~1e-7) at every position instead of growing as p × 6e-8.
     */
    public static String[] ropeCosSin(GraphBuilder g, ModelConfig c, String positionIds) {
        int half = c.headDim() / 2, block = RopeFrequencies.TABLE_BLOCK;
        int highRows = (int) (RopeFrequencies.tablePositions(c) / block);
        float[][] low = RopeFrequencies.cosSinTable(c, 0, 1, block);
        float[][] high = RopeFrequencies.cosSinTable(c, 0, block, highRows);
        String cosLow = g.constFloats("/model/rotary/cos_low", low[0], block, half);
        String sinLow = g.constFloats("/model/rotary/sin_low", low[1], block, half);
        String cosHigh = g.constFloats("/model/rotary/cos_high", high[0], highRows, half);
        String sinHigh = g.constFloats("/model/rotary/sin_high", high[1], highRows, half);
        String b = g.constInt64(block);
        String hi = g.op("Div", List.of(positionIds, b)), lo = g.op("Mod", List.of(positionIds, b)); // positions are >= 0
        String ch = g.op("Gather", List.of(cosHigh, hi), attr("axis", 0L)), sh = g.op("Gather", List.of(sinHigh, hi), attr("axis", 0L));
        String cl = g.op("Gather", List.of(cosLow, lo), attr("axis", 0L)), sl = g.op("Gather", List.of(sinLow, lo), attr("axis", 0L));
        String cos = g.op("Sub", List.of(g.op("Mul", List.of(ch, cl)), g.op("Mul", List.of(sh, sl))));   // cos(a + b)  [B, S, D/2]
        String sin = g.op("Add", List.of(g.op("Mul", List.of(sh, cl)), g.op("Mul", List.of(ch, sl))));   // sin(a + b)
        return new String[]{g.op("Concat", List.of(cos, cos), attr("axis", -1L)), g.op("Concat", List.of(sin, sin), attr("axis", -1L))};
    }

    /** Shapes, RoPE tables and the attention mask, computed once and shared by all layers. */
    private void prelude() throws Exception {
        int kvh = c.numKeyValueHeads(), d = c.headDim(), group = c.numAttentionHeads() / kvh;
        try (var s = g.scope("shapes")) {
            String idsShape = g.op("Shape", List.of("input_ids"));
            batchDim = g.op("Slice", List.of(idsShape, g.constInt64(0), g.constInt64(1)));
            seqDim = g.op("Slice", List.of(idsShape, g.constInt64(1), g.constInt64(2)));
            qShape = g.op("Concat", List.of(batchDim, seqDim, g.constInt64(kvh, group, d)), attr("axis", 0L));
            kvShape = g.op("Concat", List.of(batchDim, seqDim, g.constInt64(kvh, d)), attr("axis", 0L));
        }
        try (var s = g.scope("rotary")) {
            String[] cs = ropeCosSin(g, c, "position_ids");
            String cos = cs[0], sin = cs[1];
            cos4 = g.op("Unsqueeze", List.of(cos, g.constInt64(1)));                    // [B, 1, S, D]
            sin4 = g.op("Unsqueeze", List.of(sin, g.constInt64(1)));
            cos5 = g.op("Unsqueeze", List.of(cos4, g.constInt64(1)));                   // [B, 1, 1, S, D]
            sin5 = g.op("Unsqueeze", List.of(sin4, g.constInt64(1)));
        }
        if (variant.inPlaceCache()) return; // GQA masks by row lengths
        try (var s = g.scope("mask")) {
            // Key j is visible to query i (absolute position past + i) when j <= past + i and
            // attention_mask[b, j] = 1: causal and padding masks in one boolean [B, 1, 1, S, T].
            String total = g.op("Squeeze", List.of(g.op("Slice", List.of(g.op("Shape", List.of("attention_mask")),
                    g.constInt64(1), g.constInt64(2))), g.constInt64(0)));
            String past = g.op("Sub", List.of(total, g.op("Squeeze", List.of(seqDim, g.constInt64(0)))));
            String one = g.constInt64Scalar(1);
            String keyPos = g.op("Range", List.of(g.constInt64Scalar(0), total, one));           // [T]
            String queryPos = g.op("Unsqueeze", List.of(g.op("Range", List.of(past, total, one)), g.constInt64(1))); // [S, 1]
            String causal = g.op("LessOrEqual", List.of(keyPos, queryPos));                      // [S, T]
            String pad = g.op("Unsqueeze", List.of(g.op("Cast", List.of("attention_mask"), attr("to", (long) BOOL)),
                    g.constInt64(1, 2, 3)));                                                      // [B, 1, 1, 1, T]
            maskBias = maskBias(g, g.op("And", List.of(pad, causal)));                           // [B, 1, 1, S, T]
            if (!variant.kvCache()) {
                // T = S here; block k owns query rows [lo, hi) = [S·k/K, S·(k+1)/K). When S < K some
                // own none; they then compute one row, [max(hi − 1, 0), max(hi, 1)), and keep none of
                // it: an empty block would make products with an empty inner axis in the backward,
                // whose outputs ONNX Runtime leaves uninitialised
                blocks = new QueryBlock[QUERY_BLOCKS];
                String zero = g.constInt64(0), oneRow = g.constInt64(1);
                String lo = zero;
                for (int k = 0; k < QUERY_BLOCKS; k++) {
                    String hi = k == QUERY_BLOCKS - 1 ? seqDim
                            : g.op("Div", List.of(g.op("Mul", List.of(seqDim, g.constInt64(k + 1))), g.constInt64(QUERY_BLOCKS)));
                    String to = g.op("Max", List.of(hi, oneRow));
                    String from = g.op("Max", List.of(g.op("Min", List.of(lo, g.op("Sub", List.of(hi, oneRow)))), zero));
                    String bias = g.op("Slice", List.of(maskBias, g.op("Concat", List.of(from, zero), attr("axis", 0L)),
                            g.op("Concat", List.of(to, to), attr("axis", 0L)), g.constInt64(3, 4)));                    // [B,1,1,to−from,to]
                    blocks[k] = new QueryBlock(from, to, g.op("Sub", List.of(lo, from)), g.op("Sub", List.of(hi, from)), bias);
                    lo = hi;
                }
            }
        }
    }

    /**
     * 0 where {@code allowed}, −FLT_MAX elsewhere, added to the attention scores. Equal, bit for bit,
     * to {@code Where(allowed, scores, −FLT_MAX)} for every finite score below 2^103 (the sum rounds
     * to −FLT_MAX), but computed once per graph on the mask's [.., S, T] instead of once per layer
     * on every head's scores, and its gradient is the identity where Where's was another pass:
     * stories15M 8 × 256, 70 ms of a 1.1 s training step.
     */
    public static String maskBias(GraphBuilder g, String allowed) {
        return g.op("Where", List.of(allowed, g.constFloat(0f), g.constFloat(-Float.MAX_VALUE)));
    }

    private String layer(int i, String h) throws Exception {
        int kvh = c.numKeyValueHeads(), d = c.headDim();
        String prefix = "model.layers." + i + ".";
        String attnOut;
        try (var s = g.scope("attn")) {
            String x = rmsNorm(h, prefix + "input_layernorm.weight");
            String[] qkv = linears(x, i, Projection.Q_PROJ, Projection.K_PROJ, Projection.V_PROJ);
            String q = qkv[0], k = qkv[1], v = qkv[2];
            if (variant.inPlaceCache()) {
                attnOut = linear(inPlaceAttention(i, q, k, v), i, Projection.O_PROJ);
            } else {
                String q5 = g.op("Transpose", List.of(g.op("Reshape", List.of(q, qShape))), attrInts("perm", 0, 2, 3, 1, 4)); // [B,KVH,G,S,D]
                String k4 = g.op("Transpose", List.of(g.op("Reshape", List.of(k, kvShape))), attrInts("perm", 0, 2, 1, 3));    // [B,KVH,S,D]
                String v4 = g.op("Transpose", List.of(g.op("Reshape", List.of(v, kvShape))), attrInts("perm", 0, 2, 1, 3));
                String qRot = rope(g, q5, cos5, sin5, d);
                String kRot = rope(g, k4, cos4, sin4, d);
                String presentK = kRot, presentV = v4; // without a cache, keys and values are this pass's own
                if (variant.kvCache()) {
                    presentK = g.opNamed("Concat", presentKey(i), List.of(pastKey(i), kRot), attr("axis", 2L));  // [B,KVH,T,D]
                    presentV = g.opNamed("Concat", presentValue(i), List.of(pastValue(i), v4), attr("axis", 2L));
                }
                String qScaled = g.unbroadcast(g.op("Mul", List.of(qRot, g.constFloat((float) (1.0 / Math.sqrt(d))))), 0);
                String ctx;                                                                             // [B,KVH,G,S,D]
                if (variant.kvCache()) {
                    ctx = attend(qScaled, presentK, presentV, maskBias);
                } else {
                    String[] parts = new String[QUERY_BLOCKS];
                    for (int b = 0; b < QUERY_BLOCKS; b++) {
                        QueryBlock qb = blocks[b];
                        String queries = g.op("Slice", List.of(qScaled, qb.from(), qb.to(), g.constInt64(3)));
                        String keys = g.op("Slice", List.of(presentK, g.constInt64(0), qb.to(), g.constInt64(2)));
                        String values = g.op("Slice", List.of(presentV, g.constInt64(0), qb.to(), g.constInt64(2)));
                        parts[b] = g.op("Slice", List.of(attend(queries, keys, values, qb.bias()), qb.keepFrom(), qb.keepTo(), g.constInt64(3)));
                    }
                    ctx = g.op("Concat", Arrays.asList(parts), attr("axis", 3L));
                }
                String ctx2 = g.op("Reshape", List.of(g.op("Transpose", List.of(ctx), attrInts("perm", 0, 3, 1, 2, 4)),
                        g.constInt64(-1, (long) c.numAttentionHeads() * d)));
                attnOut = linear(ctx2, i, Projection.O_PROJ);
            }
        }
        h = g.unbroadcast(g.op("Add", List.of(h, attnOut)), 0, 1);
        String mlpOut;
        try (var s = g.scope("mlp")) {
            String x = rmsNorm(h, prefix + "post_attention_layernorm.weight");
            String gate = linear(x, i, Projection.GATE_PROJ);
            String up = linear(x, i, Projection.UP_PROJ);
            String act = silu(g, gate, up);
            mlpOut = linear(act, i, Projection.DOWN_PROJ);
        }
        return g.unbroadcast(g.op("Add", List.of(h, mlpOut)), 0, 1);
    }

    /** SiLU(gate) ⊙ up, shared with the per-layer training graphs (the three have one shape). */
    public static String silu(GraphBuilder g, String gate, String up) {
        return g.unbroadcast(g.op("Mul", List.of(g.unbroadcast(g.op("Mul", List.of(gate, g.op("Sigmoid", List.of(gate)))), 0, 1), up)), 0, 1);
    }

    /** softmax(q·kᵀ + bias)·v for q [B,KVH,G,S,D], k and v [B,KVH,T,D], bias [B,1,1,S,T]; [B,KVH,G,S,D]. */
    private String attend(String q, String k, String v, String bias) {
        String kT = g.op("Unsqueeze", List.of(g.op("Transpose", List.of(k), attrInts("perm", 0, 1, 3, 2)), g.constInt64(2)));
        String scores = g.unbroadcast(g.op("MatMul", List.of(q, kT)), 0);                          // [B,KVH,G,S,T]
        String probs = g.op("Softmax", List.of(g.unbroadcast(g.op("Add", List.of(scores, bias)), 0)), attr("axis", -1L));
        return g.unbroadcast(g.op("MatMul", List.of(probs, g.op("Unsqueeze", List.of(v, g.constInt64(2))))), 0);
    }

    /** x · rsqrt(mean(x²) + eps) · w, in the op pattern ONNX Runtime fuses into SimplifiedLayerNormalization. */
    private String rmsNorm(String x, String weightName) throws Exception {
        return rmsNorm(g, x, weight(weightName, c.hiddenSize()), c.rmsNormEps());
    }

    /** RMSNorm over the last axis; shared with the per-layer training graphs so both compute the same ops. */
    public static String rmsNorm(GraphBuilder g, String x, String w, double eps) {
        String sq = g.op("Pow", List.of(x, g.constFloat(2f)));
        String mean = g.op("ReduceMean", List.of(sq), attrInts("axes", -1), attr("keepdims", 1L));
        String denom = g.op("Sqrt", List.of(g.op("Add", List.of(mean, g.constFloat((float) eps)))));
        return g.unbroadcast(g.op("Mul", List.of(g.unbroadcast(g.op("Div", List.of(x, denom)), 0), w)), 0);
    }

    /** rotate_half RoPE: x·cos + concat(−x₂, x₁)·sin over the last axis. */
    public static String rope(GraphBuilder g, String x, String cos, String sin, int d) {
        String axis = g.constInt64(-1);
        String x1 = g.op("Slice", List.of(x, g.constInt64(0), g.constInt64(d / 2), axis));
        String x2 = g.op("Slice", List.of(x, g.constInt64(d / 2), g.constInt64(d), axis));
        String rotated = g.op("Concat", List.of(g.op("Neg", List.of(x2)), x1), attr("axis", -1L));
        return g.unbroadcast(g.op("Add", List.of(g.unbroadcast(g.op("Mul", List.of(x, cos)), 0),
                g.unbroadcast(g.op("Mul", List.of(rotated, sin)), 0))), 0, 1);
    }

    /**
     * One projection with optional LoRA, on the 2-D stream x [N, in]:
     * <pre>
     *   x ──Gemm(W, b, transB)───────────────────────────┐ C
     *   │                                                 ▼
     *   └──Gemm(A, transB)──Mul(lora_scale)──▶ Gemm(B, transB, C) ──▶ y [N, out]
     * </pre>
     * A [r, in] and B [out, r] are graph inputs named as in PEFT, with a symbolic rank, so one
     * graph serves any adapter; rank 0 (empty A and B) is the base model.
     */
    private String linear(String x, int layer, Projection p) throws Exception {
        try (var s = g.scope(p.moduleName())) {
            String path = p.modulePath(layer);
            String base;
            if (quantized != null) {
                base = withBias(quantizedMatMul(x, path + ".weight", p.outFeatures(c), p.inFeatures(c)), layer, p);
            } else {
                String w = weight(path + ".weight", p.outFeatures(c), p.inFeatures(c));
                List<String> in = p.hasBias(c) ? List.of(x, w, weight(path + ".bias", p.outFeatures(c))) : List.of(x, w);
                base = g.op("Gemm", in, attr("transB", 1L));
            }
            return withLora(x, layer, p, base);
        }
    }

    /**
     * {@link #linear} for projections that read the same x (q, k and v). Under a quantization
     * scheme that stacks ({@link QuantizedWeights#stacks()}), their products run as one node over
     * the weights side by side, then split: with per-output-channel scales each column's number is
     * what it was apart, and k and v (256 columns each at the 1.5B shape) are too small alone to
     * keep the memory bus busy when decoding one token. Gate and up stay apart: splitting their
     * [tokens, 2 × 8,960] product copies it, which cost prefill more than the stacking saved.
     */
    private String[] linears(String x, int layer, Projection... ps) throws Exception {
        String[] out = new String[ps.length];
        if (quantized == null || !quantized.stacks()) {
            for (int j = 0; j < ps.length; j++) out[j] = linear(x, layer, ps[j]);
            return out;
        }
        List<String> names = new ArrayList<>();
        int[] ns = new int[ps.length];
        StringBuilder stacked = new StringBuilder(ps[0].modulePath(layer));
        for (int j = 0; j < ps.length; j++) {
            names.add(ps[j].modulePath(layer) + ".weight");
            ns[j] = ps[j].outFeatures(c);
            if (ps[j].inFeatures(c) != ps[0].inFeatures(c)) throw new IllegalArgumentException(ps[j] + " reads another width than " + ps[0]);
            if (j > 0) stacked.append('+').append(ps[j].moduleName());
        }
        String[] bases;
        try (var s = g.scope(Arrays.stream(ps).map(Projection::moduleName).collect(Collectors.joining("+")))) {
            bases = quantized.matMulStacked(g, x, stacked + ".weight", names, ns, ps[0].inFeatures(c));
        }
        for (int j = 0; j < ps.length; j++) {
            try (var s = g.scope(ps[j].moduleName())) {
                out[j] = withLora(x, layer, ps[j], withBias(bases[j], layer, ps[j]));
            }
        }
        return out;
    }

    private String withBias(String base, int layer, Projection p) throws IOException {
        return p.hasBias(c) ? g.op("Add", List.of(base, weight(p.modulePath(layer) + ".bias", p.outFeatures(c)))) : base;
    }

    /** base, plus the projection's LoRA branch when it is a target. */
    private String withLora(String x, int layer, Projection p, String base) {
        if (!loraTargets.contains(p)) return base;
        boolean drop = variant.loraDropout() > 0;
        String xIn = drop ? dropout(x, layer * 16L + p.ordinal()) : x;
        return loraBranch(g, xIn, base, PeftAdapter.tensorName(layer, p, 'A'), PeftAdapter.tensorName(layer, p, 'B'),
                drop ? dropoutScale(g, LORA_SCALE, variant.loraDropout()) : LORA_SCALE);
    }

    /** base + scale · (x Aᵀ) Bᵀ: the LoRA branch of {@link #linear}, shared with the per-layer training graphs. */
    public static String loraBranch(GraphBuilder g, String x, String base, String a, String b, String scale) {
        String xa = g.op("Gemm", List.of(x, a), attr("transB", 1L));
        String scaled = g.unbroadcast(g.op("Mul", List.of(xa, scale)), 0);
        return g.unbroadcast(g.op("Gemm", List.of(scaled, b, base), attr("transB", 1L)), 2);
    }

    public static final String DROPOUT_SEED = "lora_dropout_seed";

    /**
     * PEFT's {@code lora_dropout} on the LoRA branch's input x [rows, features], x ⊙ m / keep, with a
     * mask that is a pure function of ({@code lora_dropout_seed}, module, row, feature), so the same
     * step gives the same mask on every run and after a resume (ONNX's random ops keep state across
     * runs), in integer arithmetic that every machine computes alike.
     *
     * <p>Each row i and feature j gets two random odd 32-bit numbers (R_i, S_i and C_j, D_j: hashes of
     * the index keyed by the seed, and for features by the module too; the rows' are made once per
     * graph), and element (i, j) is kept when R_i·C_j + S_i·D_j (mod 2³²) falls in the lowest share
     * keep of its range: for a fixed row the products by independent uniform odd numbers are
     * independent uniforms, and the sum of two such rank-one terms has no multiplicative relation
     * between elements. Per element that is two int32 multiplies, an add, a compare and a cast, where
     * a hash of each element's flat index (three int64 Mod ops, a division each) took half of a small
     * model's training step. The mask is 0/1: PEFT's 1/keep goes into the branch's scale
     * ({@link #dropoutScale}). {@code LoraDropoutTest} checks the rate and the independence of
     * neighbours, of rows, of features and of modules.
     * The seed input [1] is set per micro-batch by the trainer and must be declared by the caller.
     */
    public static String loraDropout(GraphBuilder g, String x, long module, double rate) {
        return loraDropout(g, x, g.constInt64(module * 7919L + 17), rate, DROPOUT_SEED, null);
    }

    /**
     * As {@link #loraDropout(GraphBuilder, String, long, double)} with the module's salt
     * ({@code module · 7919 + 17}, int64 [1]) and the seed given as values: one per-layer graph
     * then serves every layer and gives the same masks as the whole-model graph. {@code firstRow}
     * (int64 [1], or null for 0) is the index of x's first row in the whole input, for a graph
     * that sees a block of rows.
     */
    public static String loraDropout(GraphBuilder g, String x, String salt, double rate, String seed, String firstRow) {
        try (var s = g.scope("lora_dropout")) {
            String one = g.constInt64Scalar(1);
            String shape = g.op("Shape", List.of(x));
            // the rows' numbers depend on the seed only: every LoRA input of one graph has the same rows
            // (its tokens), so they are made once per graph and shared by all modules
            String[] rs = g.memo("lora_dropout_rows/" + seed + "/" + firstRow, () -> {
                String start = firstRow == null ? g.constInt64Scalar(0) : g.op("Squeeze", List.of(firstRow, g.constInt64(0)));
                String rows = g.op("Squeeze", List.of(g.op("Slice", List.of(shape, g.constInt64(0), g.constInt64(1))), g.constInt64(0)));
                String row = g.op("Unsqueeze", List.of(g.op("Range", List.of(start, g.op("Add", List.of(start, rows)), one)), g.constInt64(1))); // [rows, 1]
                return oddPair(g, row, streamKey(g, seed, g.constInt64(0x2545F491L)));
            });
            String cols = g.op("Squeeze", List.of(g.op("Slice", List.of(shape, g.constInt64(1), g.constInt64(2))), g.constInt64(0)));
            String col = g.op("Unsqueeze", List.of(g.op("Range", List.of(g.constInt64Scalar(0), cols, one)), g.constInt64(0)));  // [1, cols]
            String[] cd = oddPair(g, col, streamKey(g, seed, salt));
            String h = g.op("Add", List.of(g.op("Mul", List.of(rs[0], cd[0])), g.op("Mul", List.of(rs[1], cd[1]))));   // int32 [rows, cols]
            // int32 products wrap mod 2³²; read as signed, h is uniform on the even numbers of [−2³¹, 2³¹)
            // (two odd products: an even sum), so the share keep of them lies below −2³¹ + keep · 2³²
            String kept = g.op("Less", List.of(h, g.constInt32((int) Math.round((1 - rate) * 0x1p32 - 0x1p31))));
            return g.op("Mul", List.of(x, g.op("Cast", List.of(kept), attr("to", (long) FLOAT))));
        }
    }

    /** The LoRA scale of a branch whose input went through {@link #loraDropout}: scale / keep. */
    public static String dropoutScale(GraphBuilder g, String scale, double rate) {
        return g.op("Mul", List.of(scale, g.constFloat((float) (1 / (1 - rate)))));
    }

    /**
     * A key per (seed, stream): a hash of seed · 1000003 + stream, so that the indices of one seed and
     * those of the next never line up (a key linear in the seed made micro-batch k + 1's mask micro-batch
     * k's shifted by one row and one feature).
     */
    private static String streamKey(GraphBuilder g, String seed, String stream) {
        return hash31(g, g.op("Add", List.of(g.op("Mul", List.of(seed, g.constInt64(1000003L))), stream)));
    }

    /**
     * Two random odd 32-bit numbers (int32) per index: 2h + 1 for two 31-bit hashes h of (index,
     * key) — multiply, square, multiply, each mod 2³¹−1.
     */
    private static String[] oddPair(GraphBuilder g, String index, String key) {
        String v = g.op("Add", List.of(g.op("Mul", List.of(index, g.constInt64(1000003L))), key));
        String[] out = new String[2];
        for (int i = 0; i < 2; i++) {
            String h = hash31(g, i == 0 ? v : g.op("Add", List.of(v, g.constInt64(0x5bd1e995L))));
            // the low 32 bits of 2h + 1 < 2³²: odd, uniform over the odd numbers
            out[i] = g.op("Cast", List.of(g.op("Add", List.of(g.op("Mul", List.of(h, g.constInt64(2L))), g.constInt64(1L)))),
                    attr("to", (long) INT32));
        }
        return out;
    }

    /** A 31-bit hash of int64 values: multiply, square, multiply, each mod p = 2³¹−1. */
    private static String hash31(GraphBuilder g, String v) {
        String p = g.constInt64(2147483647L);
        String z1 = g.op("Mod", List.of(g.op("Mul", List.of(v, g.constInt64(2654435761L))), p)); // int Mod takes the divisor's sign: [0, p)
        String z2 = g.op("Mod", List.of(g.op("Mul", List.of(z1, z1)), p));
        return g.op("Mod", List.of(g.op("Add", List.of(g.op("Mul", List.of(z2, g.constInt64(48271L))), z1)), p));
    }

    private String dropout(String x, long module) {
        if (!dropoutSeedDeclared) {
            g.input(DROPOUT_SEED, INT64, 1);
            dropoutSeedDeclared = true;
        }
        return loraDropout(g, x, module, variant.loraDropout());
    }

    private String quantizedMatMul(String x, String name, int n, int k) {
        try {
            return quantized.matMul(g, x, name, n, k);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Adds a weight as an initializer (once; tied embeddings reuse it); returns a float32 value name. */
    private String weight(String name, long... shape) throws IOException {
        if (storedAs(name, shape) == DType.F32) return name;
        String casted = name + "/float32";
        if (castDone.add(name)) g.opNamed("Cast", casted, List.of(name), attr("to", (long) FLOAT));
        return casted;
    }

    /** Adds the initializer once; its storage dtype. */
    private DType storedAs(String name, long... shape) throws IOException {
        DType d = storage.get(name);
        if (d == null) {
            d = weights.add(g, name, shape);
            storage.put(name, d);
        }
        return d;
    }
}
