package dev.tina.training.layered;

import ai.onnxruntime.OnnxJavaType;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.training.autodiff.GradientBuilder;
import dev.tina.training.autodiff.Vjp;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingInput;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.tina.export.onnx.GraphBuilder.BOOL;
import static dev.tina.export.onnx.GraphBuilder.FLOAT;
import static dev.tina.export.onnx.GraphBuilder.INT64;
import static dev.tina.export.onnx.GraphBuilder.attr;
import static dev.tina.export.onnx.GraphBuilder.attrInts;

/**
 * The pieces of the decoder that the recomputing trainer ({@link LayeredGradients}) runs one
 * after another, each a small ONNX graph shared by every layer: the base weights and LoRA factors
 * of the layer at hand are graph inputs (fed from the memory-mapped export, no copy), so one
 * session serves all layers. Each piece computes exactly the ops of the whole-model graph
 * ({@link DecoderGraph}'s own norm, RoPE, LoRA and dropout builders), on the 2-D residual stream
 * [n = batch × sequence, hidden]:
 * <pre>
 *   h_i ──▶ [attn_in] ──q,k,v──▶ [attention tile]× ──o──▶ [attn_out+mlp] ──▶ h_i+1      (forward)
 *   dh_i ◀── [attn_in VJP] ◀─dq,dk,dv── [tile VJP]× ◀─do── [attn_out+mlp VJP] ◀── dh_i+1 (backward)
 * </pre>
 * The backward pieces recompute their forward inside (only h_i and o_i are kept between the
 * passes). All pieces but the attention tiles are per-token, so the driver runs them on blocks of
 * rows and their transients do not grow with the sequence; attention tiles are one batch row × one block of queries against that row's keys, so
 * no [heads × seq × seq] tensor is ever larger than a tile. The head scores chunks of target
 * tokens against the vocabulary and returns their loss, log-probs and the gradient of the chunk's
 * hidden states in one run (the loss is a sum of per-token terms, so a chunk's gradient needs only
 * that chunk).
 */
public final class LayerGraphs {
    /** Graph I/O names. */
    public static final String H = "h", H_OUT = "h_out", O = "o", Q = "q", K = "k", V = "v", POSITIONS = TrainingInput.POSITION_IDS.graphName(),
            KEY_MASK = "key_mask", QUERY_OFFSET = "query_offset", NORMED = "normed", IDS = TrainingInput.INPUT_IDS.graphName(),
            DH_RESIDUAL = "dh_residual", SEED = TrainingInput.DROPOUT_SEED.graphName(), ROW_OFFSET = "row_offset";

    private final ModelConfig c;
    private final List<Projection> targets;
    private final Map<String, Integer> storage;
    private final double dropout;

    /**
     * @param storage ONNX element type of each stored base weight, by role name ({@link #weightRole}); 1 = float32
     * @param dropout PEFT lora_dropout (0: none)
     */
    public LayerGraphs(ModelConfig c, List<Projection> targets, Map<String, Integer> storage, double dropout) {
        this.c = c;
        this.targets = List.copyOf(targets);
        this.storage = Map.copyOf(storage);
        this.dropout = dropout;
    }

    /** The role of a layer's weight inside the per-layer graphs, e.g. {@code w.self_attn.q_proj.weight}. */
    public static String weightRole(String suffix) { return "w." + suffix; }

    /** The roles of the weights outside the layers. */
    public static final String EMBED = weightRole("embed"), LM_HEAD = weightRole("lm_head"), FINAL_NORM = weightRole("model.norm.weight");

    /** Every base weight role the pieces read. */
    public static List<String> weightRoles(ModelConfig c) {
        List<String> out = new ArrayList<>(List.of(EMBED, LM_HEAD, FINAL_NORM));
        for (String s : attentionInWeights(c)) out.add(weightRole(s));
        for (String s : attentionOutAndMlpWeights(c)) out.add(weightRole(s));
        return out;
    }

    /** The ONNX element type of weights stored as {@code type}: the values of the constructor's {@code storage}. */
    public static int storageType(OnnxJavaType type) {
        return switch (type) {
            case FLOAT -> FLOAT;
            case FLOAT16 -> 10;
            case BFLOAT16 -> 16;
            default -> throw new IllegalArgumentException("weights stored as " + type + " are not supported");
        };
    }

    /** The export's name of the weight playing {@code role} in layer {@code layer}. */
    public static String exportName(ModelConfig c, String role, int layer) {
        String s = role.substring(2);
        return switch (s) {
            case "embed" -> "model.embed_tokens.weight";
            case "lm_head" -> c.tieWordEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight";
            case "model.norm.weight" -> s;
            default -> "model.layers." + layer + "." + s;
        };
    }

    public static String loraRole(Projection p, char ab) { return "lora_" + ab + "." + p.moduleName(); }

    public static String saltRole(Projection p) { return "salt." + p.moduleName(); }

    /** The dropout salt of a module, as the whole-model graph computes it. */
    public static long salt(int layer, Projection p) { return (layer * 16L + p.ordinal()) * 7919L + 17; }

    public List<Projection> targets() { return targets; }

    public List<Projection> attentionTargets() {
        return targets.stream().filter(p -> p.ordinal() <= Projection.V_PROJ.ordinal()).toList();
    }

    public List<Projection> mlpTargets() {
        return targets.stream().filter(p -> p.ordinal() > Projection.V_PROJ.ordinal()).toList();
    }

    /** The layer's weight suffixes (after {@code model.layers.i.}) each piece reads. */
    public static List<String> attentionInWeights(ModelConfig c) {
        List<String> out = new ArrayList<>(List.of("input_layernorm.weight"));
        for (Projection p : List.of(Projection.Q_PROJ, Projection.K_PROJ, Projection.V_PROJ)) {
            out.add(suffix(p) + ".weight");
            if (p.hasBias(c)) out.add(suffix(p) + ".bias");
        }
        return out;
    }

    public static List<String> attentionOutAndMlpWeights(ModelConfig c) {
        List<String> out = new ArrayList<>();
        out.add(suffix(Projection.O_PROJ) + ".weight");
        if (Projection.O_PROJ.hasBias(c)) out.add(suffix(Projection.O_PROJ) + ".bias");
        out.add("post_attention_layernorm.weight");
        for (Projection p : List.of(Projection.GATE_PROJ, Projection.UP_PROJ, Projection.DOWN_PROJ)) {
            out.add(suffix(p) + ".weight");
            if (p.hasBias(c)) out.add(suffix(p) + ".bias");
        }
        return out;
    }

    static String suffix(Projection p) { return p.modulePath(0).substring("model.layers.0.".length()); }

    // ---------------------------------------------------------------- pieces

    /** input_ids [B, S] → h [B·S, hidden]. */
    public GraphBuilder embed() {
        GraphBuilder g = new GraphBuilder("tina_embed", null);
        g.input(IDS, INT64, "batch", "seq");
        String w = weightInput(g, "embed", c.vocabSize(), c.hiddenSize());
        String ids = g.op("Reshape", List.of(IDS, g.constInt64(-1)));
        g.opNamed("Gather", H_OUT, List.of(w, ids), attr("axis", 0L));
        g.output(H_OUT, FLOAT, "n", c.hiddenSize());
        return g;
    }

    /** h [n, hidden], position_ids [n] → q [n, heads, d] (rotated, scaled by 1/√d), k, v [n, kv_heads, d]. */
    public GraphBuilder attentionIn(boolean backward) {
        GraphBuilder g = new GraphBuilder(backward ? "tina_attn_in_vjp" : "tina_attn_in", null);
        int d = c.headDim(), heads = c.numAttentionHeads(), kvh = c.numKeyValueHeads();
        g.input(H, FLOAT, "n", c.hiddenSize());
        g.input(POSITIONS, INT64, "n");
        List<String> wrt = new ArrayList<>(List.of(H));
        declareLora(g, attentionTargets(), wrt);
        String x = DecoderGraph.rmsNorm(g, H, weightInput(g, "input_layernorm.weight", c.hiddenSize()), c.rmsNormEps());
        String[] cs = DecoderGraph.ropeCosSin(g, c, POSITIONS);                        // [n, d]
        String cos = g.op("Unsqueeze", List.of(cs[0], g.constInt64(1)));                  // [n, 1, d]
        String sin = g.op("Unsqueeze", List.of(cs[1], g.constInt64(1)));
        String q = g.op("Reshape", List.of(projection(g, x, Projection.Q_PROJ), g.constInt64(-1, heads, d)));
        String k = g.op("Reshape", List.of(projection(g, x, Projection.K_PROJ), g.constInt64(-1, kvh, d)));
        String v = g.op("Reshape", List.of(projection(g, x, Projection.V_PROJ), g.constInt64(-1, kvh, d)));
        String qRot = DecoderGraph.rope(g, q, cos, sin, d);
        g.unbroadcast(g.opNamed("Mul", Q, List.of(qRot, g.constFloat((float) (1.0 / Math.sqrt(d))))), 0);
        g.opNamed("Identity", K, List.of(DecoderGraph.rope(g, k, cos, sin, d)));
        g.opNamed("Identity", V, List.of(v));
        List<Vjp.Output> outs = List.of(new Vjp.Output(Q, "n", heads, d), new Vjp.Output(K, "n", kvh, d), new Vjp.Output(V, "n", kvh, d));
        if (!backward) {
            outs.forEach(y -> g.output(y.name(), FLOAT, y.dims()));
            return g;
        }
        g.input(DH_RESIDUAL, FLOAT, "n", c.hiddenSize());
        Map<String, String> grads = Vjp.append(g, outs, wrt);
        g.opNamed("Add", Vjp.GRAD + H, List.of(grads.get(H), DH_RESIDUAL));
        g.output(Vjp.GRAD + H, FLOAT, "n", c.hiddenSize());
        outputLoraGrads(g, grads, attentionTargets());
        return g;
    }

    /**
     * One attention tile: one batch row's queries [q_offset, q_offset + sq) against its keys
     * [0, tk), causal and padding masks applied: q [sq, heads, d], k, v [tk, kv_heads, d],
     * key_mask [tk] (the attention mask, int64), query_offset [1] → o [sq, heads·d].
     */
    public GraphBuilder attentionTile(boolean backward) {
        GraphBuilder g = new GraphBuilder(backward ? "tina_attn_tile_vjp" : "tina_attn_tile", null);
        int d = c.headDim(), heads = c.numAttentionHeads(), kvh = c.numKeyValueHeads(), group = heads / kvh;
        g.input(Q, FLOAT, "sq", heads, d);
        g.input(K, FLOAT, "tk", kvh, d);
        g.input(V, FLOAT, "tk", kvh, d);
        g.input(KEY_MASK, INT64, "tk");
        g.input(QUERY_OFFSET, INT64, 1);
        String q4 = g.op("Transpose", List.of(g.op("Reshape", List.of(Q, g.constInt64(-1, kvh, group, d)))),
                attrInts("perm", 1, 2, 0, 3));                                                   // [kvh, G, sq, d]
        String kT = g.op("Unsqueeze", List.of(g.op("Transpose", List.of(K), attrInts("perm", 1, 2, 0)), g.constInt64(1))); // [kvh,1,d,tk]
        String v4 = g.op("Unsqueeze", List.of(g.op("Transpose", List.of(V), attrInts("perm", 1, 0, 2)), g.constInt64(1)));  // [kvh,1,tk,d]
        String scores = g.unbroadcast(g.op("MatMul", List.of(q4, kT)), 0);                                          // [kvh, G, sq, tk]
        String one = g.constInt64Scalar(1);
        String sq = g.op("Squeeze", List.of(g.op("Slice", List.of(g.op("Shape", List.of(Q)), g.constInt64(0), g.constInt64(1))), g.constInt64(0)));
        String tk = g.op("Squeeze", List.of(g.op("Shape", List.of(KEY_MASK)), g.constInt64(0)));
        String offset = g.op("Squeeze", List.of(QUERY_OFFSET, g.constInt64(0)));
        String keyPos = g.op("Range", List.of(g.constInt64Scalar(0), tk, one));                  // [tk]
        String queryPos = g.op("Unsqueeze", List.of(g.op("Range", List.of(offset, g.op("Add", List.of(offset, sq)), one)),
                g.constInt64(1)));                                                                 // [sq, 1]
        String allowed = g.op("And", List.of(g.op("Cast", List.of(KEY_MASK), attr("to", (long) BOOL)),
                g.op("LessOrEqual", List.of(keyPos, queryPos))));                                  // [sq, tk]
        String masked = g.unbroadcast(g.op("Add", List.of(scores, DecoderGraph.maskBias(g, allowed))), 0);
        String probs = g.op("Softmax", List.of(masked), attr("axis", -1L));
        String ctx = g.unbroadcast(g.op("MatMul", List.of(probs, v4)), 0);                                          // [kvh, G, sq, d]
        g.opNamed("Reshape", O, List.of(g.op("Transpose", List.of(ctx), attrInts("perm", 2, 0, 1, 3)), g.constInt64(-1, (long) heads * d)));
        if (!backward) {
            g.output(O, FLOAT, "sq", heads * d);
            return g;
        }
        Map<String, String> grads = Vjp.append(g, List.of(new Vjp.Output(O, "sq", heads * d)), List.of(Q, K, V));
        g.opNamed("Identity", Vjp.GRAD + Q, List.of(grads.get(Q)));
        g.opNamed("Identity", Vjp.GRAD + K, List.of(grads.get(K)));
        g.opNamed("Identity", Vjp.GRAD + V, List.of(grads.get(V)));
        g.output(Vjp.GRAD + Q, FLOAT, "sq", heads, d);
        g.output(Vjp.GRAD + K, FLOAT, "tk", kvh, d);
        g.output(Vjp.GRAD + V, FLOAT, "tk", kvh, d);
        return g;
    }

    /** h [n, hidden], o [n, heads·d] → h_out = h' + mlp(norm(h')), h' = h + o_proj(o). */
    public GraphBuilder attentionOutAndMlp(boolean backward) {
        GraphBuilder g = new GraphBuilder(backward ? "tina_mlp_vjp" : "tina_mlp", null);
        int hd = c.numAttentionHeads() * c.headDim();
        g.input(H, FLOAT, "n", c.hiddenSize());
        g.input(O, FLOAT, "n", hd);
        List<String> wrt = new ArrayList<>(List.of(H, O));
        declareLora(g, mlpTargets(), wrt);
        String h2 = g.unbroadcast(g.op("Add", List.of(H, projection(g, O, Projection.O_PROJ))), 0, 1);
        String x = DecoderGraph.rmsNorm(g, h2, weightInput(g, "post_attention_layernorm.weight", c.hiddenSize()), c.rmsNormEps());
        String gate = projection(g, x, Projection.GATE_PROJ);
        String up = projection(g, x, Projection.UP_PROJ);
        String act = DecoderGraph.silu(g, gate, up);
        g.unbroadcast(g.opNamed("Add", H_OUT, List.of(h2, projection(g, act, Projection.DOWN_PROJ))), 0, 1);
        if (!backward) {
            g.output(H_OUT, FLOAT, "n", c.hiddenSize());
            return g;
        }
        Map<String, String> grads = Vjp.append(g, List.of(new Vjp.Output(H_OUT, "n", c.hiddenSize())), wrt);
        g.opNamed("Identity", Vjp.GRAD + H, List.of(grads.get(H)));
        g.opNamed("Identity", Vjp.GRAD + O, List.of(grads.get(O)));
        g.output(Vjp.GRAD + H, FLOAT, "n", c.hiddenSize());
        g.output(Vjp.GRAD + O, FLOAT, "n", hd);
        outputLoraGrads(g, grads, mlpTargets());
        return g;
    }

    /** The final norm: h [n, hidden] → normed [n, hidden] (backward: grad.normed → grad.h). */
    public GraphBuilder finalNorm(boolean backward) {
        GraphBuilder g = new GraphBuilder(backward ? "tina_norm_vjp" : "tina_norm", null);
        g.input(H, FLOAT, "n", c.hiddenSize());
        g.opNamed("Identity", NORMED, List.of(DecoderGraph.rmsNorm(g, H, weightInput(g, "model.norm.weight", c.hiddenSize()), c.rmsNormEps())));
        if (!backward) {
            g.output(NORMED, FLOAT, "n", c.hiddenSize());
            return g;
        }
        Map<String, String> grads = Vjp.append(g, List.of(new Vjp.Output(NORMED, "n", c.hiddenSize())), List.of(H));
        g.opNamed("Identity", Vjp.GRAD + H, List.of(grads.get(H)));
        g.output(Vjp.GRAD + H, FLOAT, "n", c.hiddenSize());
        return g;
    }

    /**
     * The loss head on a chunk of k target rows: {@code normed} [k, hidden] (already gathered;
     * {@code target_positions} is then 0..k−1) and the head's per-token inputs → the chunk's
     * loss, log-probs (and KL), and with {@code backward} grad.normed [k, hidden]. The LM head is
     * frozen: no weight gradient.
     */
    public GraphBuilder headChunk(LossHead head, boolean backward) throws Exception {
        GraphBuilder g = new GraphBuilder(backward ? "tina_head_vjp" : "tina_head", null);
        g.input(NORMED, FLOAT, "k", c.hiddenSize());
        String w = weightInput(g, "lm_head", c.vocabSize(), c.hiddenSize());
        head.build(g, c, NORMED, w, null, null);
        if (backward) {
            Map<String, String> grads = GradientBuilder.build(g, LossHead.LOSS, List.of(NORMED));
            g.opNamed("Identity", Vjp.GRAD + NORMED, List.of(grads.get(NORMED)));
            g.output(Vjp.GRAD + NORMED, FLOAT, "k", c.hiddenSize());
        }
        return g;
    }

    // ---------------------------------------------------------------- helpers

    private void declareLora(GraphBuilder g, List<Projection> ps, List<String> wrt) {
        if (ps.isEmpty()) return;
        g.input(DecoderGraph.LORA_SCALE, FLOAT, 1);
        for (Projection p : ps) {
            g.input(loraRole(p, 'A'), FLOAT, "rank", p.inFeatures(c));
            g.input(loraRole(p, 'B'), FLOAT, p.outFeatures(c), "rank");
            wrt.add(loraRole(p, 'A'));
            wrt.add(loraRole(p, 'B'));
            if (dropout > 0) g.input(saltRole(p), INT64, 1);
        }
        if (dropout > 0) {
            g.input(SEED, INT64, 1);
            g.input(ROW_OFFSET, INT64, 1); // the pieces see blocks of rows; masks index the whole input
        }
    }

    private void outputLoraGrads(GraphBuilder g, Map<String, String> grads, List<Projection> ps) {
        for (Projection p : ps) {
            for (char ab : new char[]{'A', 'B'}) {
                String role = loraRole(p, ab), grad = grads.get(role);
                if (grad == null) throw new IllegalStateException("the layer's output does not depend on " + role);
                g.opNamed("Identity", Vjp.GRAD + role, List.of(grad));
                g.output(Vjp.GRAD + role, FLOAT, ab == 'A' ? new Object[]{"rank", p.inFeatures(c)} : new Object[]{p.outFeatures(c), "rank"});
            }
        }
    }

    private String projection(GraphBuilder g, String x, Projection p) {
        try (var s = g.scope(p.moduleName())) {
            String w = weightInput(g, suffix(p) + ".weight", p.outFeatures(c), p.inFeatures(c));
            List<String> in = p.hasBias(c) ? List.of(x, w, weightInput(g, suffix(p) + ".bias", p.outFeatures(c))) : List.of(x, w);
            String base = g.op("Gemm", in, attr("transB", 1L));
            if (!targets.contains(p)) return base;
            String xIn = dropout > 0 ? DecoderGraph.loraDropout(g, x, saltRole(p), dropout, SEED, ROW_OFFSET) : x;
            return DecoderGraph.loraBranch(g, xIn, base, loraRole(p, 'A'), loraRole(p, 'B'),
                    dropout > 0 ? DecoderGraph.dropoutScale(g, DecoderGraph.LORA_SCALE, dropout) : DecoderGraph.LORA_SCALE);
        }
    }

    /** A base weight as a graph input in its stored type, cast to float32 when stored narrower. */
    private String weightInput(GraphBuilder g, String suffix, long... shape) {
        String role = weightRole(suffix);
        int type = storage.getOrDefault(role, FLOAT);
        Object[] dims = new Object[shape.length];
        for (int i = 0; i < shape.length; i++) dims[i] = shape[i];
        g.input(role, type, dims);
        return type == FLOAT ? role : g.op("Cast", List.of(role), attr("to", (long) FLOAT));
    }
}
