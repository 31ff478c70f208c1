package dev.tina.training.layered;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.SharedWeights;
import dev.tina.training.autodiff.Vjp;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.ort.GradientEngine;
import dev.tina.training.ort.LoraTrainingSession;
import dev.tina.training.ort.TrainingNatives;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.tina.training.layered.LayerGraphs.H;
import static dev.tina.training.layered.LayerGraphs.H_OUT;
import static dev.tina.training.layered.LayerGraphs.KEY_MASK;
import static dev.tina.training.layered.LayerGraphs.NORMED;
import static dev.tina.training.layered.LayerGraphs.O;
import static dev.tina.training.layered.LayerGraphs.POSITIONS;
import static dev.tina.training.layered.LayerGraphs.Q;
import static dev.tina.training.layered.LayerGraphs.QUERY_OFFSET;

/**
 * Loss, log-probs and LoRA gradients computed layer by layer with recomputation, so that training
 * memory grows by a few kilobytes per token instead of megabytes: the forward pass keeps only each
 * layer's input h_i and attention output o_i ([tokens × hidden] each); the backward pass walks the
 * layers in reverse, recomputes each layer's forward inside its backward pieces
 * ({@link LayerGraphs}), and carries the residual-stream gradient from layer to layer. Attention
 * runs in tiles (one batch row × a block of queries × that row's causal keys), so neither pass
 * holds a [heads × seq × seq] tensor for more than one tile, and tiles of padding only are skipped.
 * The loss head scores the target tokens in chunks of rows against the vocabulary, never
 * [targets × vocabulary] at once.
 *
 * <p>Base weights are graph inputs fed from the memory-mapped export ({@link SharedWeights}), so the
 * ten small sessions serve every layer without a copy. Owns its sessions (and the weights when it
 * mapped them itself).
 */
public final class LayeredGradients implements GradientEngine {
    /**
     * @param attentionBlock queries per attention tile
     * @param rowBlock       tokens per run of the per-token pieces (projections, norms, MLP): their transients are bounded by it
     * @param headChunkBytes the largest [chunk × vocabulary] float tensor the head may build
     * @param backward       false: forward only (log-probs, e.g. the adapter-off reference), no gradients
     */
    public record Options(int attentionBlock, int rowBlock, long headChunkBytes, boolean backward) {
        public Options {
            if (attentionBlock < 1) throw new IllegalArgumentException("attention block must be >= 1, got " + attentionBlock);
            if (rowBlock < 1) throw new IllegalArgumentException("row block must be >= 1, got " + rowBlock);
            if (headChunkBytes < 1) throw new IllegalArgumentException("head chunk bytes must be >= 1, got " + headChunkBytes);
        }

        public static Options defaults() { return new Options(256, 1024, 64L << 20, true); }

        public Options forwardOnly() { return new Options(attentionBlock, rowBlock, headChunkBytes, false); }
    }

    private static final Set<String> PER_TOKEN = Set.of("target_ids", "token_weights", "advantages", "old_logps", "ref_logps");

    private final OrtEnvironment env;
    private final ModelConfig c;
    private final LayerGraphs graphs;
    private final Options options;
    private final List<String> params;
    private final Map<String, long[]> shapes;
    private final SharedWeights weights;
    private final boolean ownsWeights;
    private final double dropout;
    private final int headChunk;
    /** Each piece's session, in opening order, with its name and {nanoseconds, runs} so far. */
    private final Map<OrtSession, String> sessions = new LinkedHashMap<>();
    private final Map<OrtSession, long[]> timing = new HashMap<>();
    private final OrtSession embed, attnIn, attnInVjp, tile, tileVjp, mlp, mlpVjp, norm, normVjp, head;

    /**
     * @param shared the export's mapped weights (null: map them here, and unmap on close)
     */
    public LayeredGradients(Path exportDir, ModelConfig config, List<Projection> targets, int rank, LossHead lossHead,
                            double loraDropout, SharedWeights shared, Options options) throws Exception {
        if (targets.isEmpty()) throw new IllegalArgumentException("no LoRA target modules given");
        if (rank < 1) throw new IllegalArgumentException("LoRA rank must be >= 1, got " + rank);
        this.env = TrainingNatives.requireTraining();
        this.c = config;
        this.options = options;
        this.dropout = loraDropout;
        this.params = TrainingGraph.loraParams(config, targets);
        Map<String, long[]> sh = new LinkedHashMap<>();
        for (String p : params) sh.put(p, TrainingGraph.paramShape(config, p, rank));
        this.shapes = sh;
        this.ownsWeights = shared == null;
        this.weights = shared != null ? shared : new SharedWeights(env, exportDir);
        this.headChunk = (int) Math.max(1, Math.min(Integer.MAX_VALUE, options.headChunkBytes() / (4L * config.vocabSize())));
        try {
            Map<String, Integer> storage = new HashMap<>();
            for (String role : roles()) storage.put(role, onnxType(weights.tensor(weightName(role, 0))));
            this.graphs = new LayerGraphs(config, targets, storage, loraDropout);
            boolean bw = options.backward();
            this.embed = open(graphs.embed());
            this.attnIn = open(graphs.attentionIn(false));
            this.tile = open(graphs.attentionTile(false));
            this.mlp = open(graphs.attentionOutAndMlp(false));
            this.norm = open(graphs.finalNorm(false));
            this.head = open(graphs.headChunk(lossHead, bw));
            this.attnInVjp = bw ? open(graphs.attentionIn(true)) : null;
            this.tileVjp = bw ? open(graphs.attentionTile(true)) : null;
            this.mlpVjp = bw ? open(graphs.attentionOutAndMlp(true)) : null;
            this.normVjp = bw ? open(graphs.finalNorm(true)) : null;
        } catch (Exception | Error e) {
            closeQuietly();
            throw e;
        }
    }

    @Override
    public List<String> params() { return params; }

    @Override
    public Map<String, long[]> shapes() { return shapes; }

    private List<String> roles() {
        List<String> out = new ArrayList<>(List.of(LayerGraphs.weightRole("embed"), LayerGraphs.weightRole("lm_head"),
                LayerGraphs.weightRole("model.norm.weight")));
        for (String s : LayerGraphs.attentionInWeights(c)) out.add(LayerGraphs.weightRole(s));
        for (String s : LayerGraphs.attentionOutAndMlpWeights(c)) out.add(LayerGraphs.weightRole(s));
        return out;
    }

    /** The export's name of the weight playing {@code role} in layer {@code layer}. */
    private String weightName(String role, int layer) {
        String s = role.substring(2);
        return switch (s) {
            case "embed" -> "model.embed_tokens.weight";
            case "lm_head" -> c.tieWordEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight";
            case "model.norm.weight" -> s;
            default -> "model.layers." + layer + "." + s;
        };
    }

    private static int onnxType(OnnxTensor t) {
        return switch (t.getInfo().type) {
            case FLOAT -> 1;
            case FLOAT16 -> 10;
            case BFLOAT16 -> 16;
            default -> throw new IllegalArgumentException("weights stored as " + t.getInfo().type + " are not supported");
        };
    }

    private OrtSession open(GraphBuilder g) throws OrtException {
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setDeterministicCompute(true);
            var model = TrainingGraph.model(g);
            String name = model.getGraph().getName().replaceFirst("^tina_", "");
            String profile = System.getProperty("tina.layered.profile"); // a folder: ONNX Runtime's per-node timings, one JSON per piece
            if (profile != null) o.enableProfiling(Path.of(profile, name).toString());
            // ONNX Runtime's arena keeps each session's peak transients resident (the sum over the
            // pieces, not the largest), but without it every run maps fresh pages: measured at 40M ×
            // 1,024 tokens, 1.28 GB peak and 3.1 CPU-s a step with it, 0.75 GB and 6.3 CPU-s without.
            OrtSession s = env.createSession(model.toByteArray(), o);
            sessions.put(s, name);
            timing.put(s, new long[2]);
            return s;
        }
    }

    private volatile boolean closed;

    // ------------------------------------------------------------------------------------ run

    @Override
    public Result run(LoraTrainingSession.Batch batch, Map<String, float[]> lora) throws Exception {
        Object[] idsV = required(batch, "input_ids");
        long[] shape = (long[]) idsV[1];
        if (shape.length != 2) throw new IllegalArgumentException("input_ids must be [batch, seq], got " + shape.length + " dims");
        int b = Math.toIntExact(shape[0]), s = Math.toIntExact(shape[1]), n = b * s;
        long[] mask = (long[]) required(batch, "attention_mask")[0], pos = (long[]) required(batch, "position_ids")[0];
        long[] targets = (long[]) required(batch, "target_positions")[0];
        if (mask.length != n || pos.length != n) throw new IllegalArgumentException("attention_mask and position_ids must be [" + b + ", " + s + "]");
        for (long t : targets) if (t < 0 || t >= n) throw new IllegalArgumentException("target position " + t + " outside [0, " + n + ")");
        for (String p : params) if (!lora.containsKey(p)) throw new IllegalArgumentException("no weights given for " + p);
        if (dropout > 0 && batch.values().get(DecoderGraph.DROPOUT_SEED) == null) {
            throw new IllegalArgumentException("batch lacks input '" + DecoderGraph.DROPOUT_SEED + "' (LoRA dropout is on)");
        }
        if (closed) throw new IllegalStateException("this gradient engine is closed");
        try (Arena arena = Arena.ofConfined(); Run run = new Run(arena, batch, lora, b, s, mask, pos, targets)) {
            return run.execute();
        }
    }

    private static Object[] required(LoraTrainingSession.Batch batch, String name) {
        Object[] v = batch.values().get(name);
        if (v == null) throw new IllegalArgumentException("batch lacks input '" + name + "'");
        return v;
    }

    /** One micro-batch's buffers and tensors; everything it creates is closed with it. */
    private final class Run implements AutoCloseable {
        private final Arena arena;
        private final LoraTrainingSession.Batch batch;
        private final Map<String, float[]> lora;
        private final int b, s, n, hidden, qd, kd, layers;
        private final long[] mask, targets;
        private final List<OnnxTensor> owned = new ArrayList<>();
        private final OnnxTensor scale, seed;
        private final MemorySegment maskSeg, posSeg;
        private final int rowBlock = options.rowBlock();

        Run(Arena arena, LoraTrainingSession.Batch batch, Map<String, float[]> lora, int b, int s, long[] mask, long[] pos,
            long[] targets) throws OrtException {
            this.arena = arena;
            this.batch = batch;
            this.lora = lora;
            this.b = b;
            this.s = s;
            this.n = b * s;
            this.mask = mask;
            this.targets = targets;
            this.hidden = c.hiddenSize();
            this.qd = c.numAttentionHeads() * c.headDim();
            this.kd = c.numKeyValueHeads() * c.headDim();
            this.layers = c.numHiddenLayers();
            Object[] sc = batch.values().get(DecoderGraph.LORA_SCALE);
            Object[] sd = batch.values().get(DecoderGraph.DROPOUT_SEED); // present when dropout is on: run() checked
            this.scale = own(OnnxTensor.createTensor(env, FloatBuffer.wrap(sc == null ? new float[]{1f} : (float[]) sc[0]), new long[]{1}));
            try {
                this.seed = sd == null ? null : own(OnnxTensor.createTensor(env, LongBuffer.wrap((long[]) sd[0]), new long[]{1}));
            } catch (OrtException | RuntimeException e) {
                close(); // the constructor failed: nobody else will close what it made
                throw e;
            }
            this.maskSeg = arena.allocate(8L * n, 8);
            MemorySegment.copy(mask, 0, maskSeg, ValueLayout.JAVA_LONG, 0, n);
            this.posSeg = arena.allocate(8L * n, 8);
            MemorySegment.copy(pos, 0, posSeg, ValueLayout.JAVA_LONG, 0, n);
        }

        private OnnxTensor own(OnnxTensor t) {
            owned.add(t);
            return t;
        }

        MemorySegment floats(long count) { return arena.allocate(4L * count, 64); }

        /** A float tensor over a segment's bytes: no copy, ORT reads and writes them directly. */
        OnnxTensor view(MemorySegment seg, long offsetFloats, long... shape) throws OrtException {
            long count = 1;
            for (long d : shape) count *= d;
            ByteBuffer bb = seg.asSlice(4 * offsetFloats, 4 * count).asByteBuffer().order(ByteOrder.nativeOrder());
            return OnnxTensor.createTensor(env, bb, shape, OnnxJavaType.FLOAT);
        }

        OnnxTensor maskView(int row, int len) throws OrtException {
            ByteBuffer bb = maskSeg.asSlice(8L * row * s, 8L * len).asByteBuffer().order(ByteOrder.nativeOrder());
            return OnnxTensor.createTensor(env, bb, new long[]{len}, OnnxJavaType.INT64);
        }

        Result execute() throws Exception {
            boolean bw = options.backward();
            MemorySegment[] hs = new MemorySegment[bw ? layers + 1 : 2];
            for (int i = 0; i < hs.length; i++) hs[i] = floats((long) n * hidden);
            MemorySegment[] os = new MemorySegment[bw ? layers : 1];
            for (int i = 0; i < os.length; i++) os[i] = floats((long) n * qd);
            MemorySegment q = floats((long) n * qd), k = floats((long) n * kd), v = floats((long) n * kd);

            // forward: keep h_i and o_i
            try (OnnxTensor ids = OnnxTensor.createTensor(env, LongBuffer.wrap((long[]) batch.values().get("input_ids")[0]), new long[]{b, s});
                 OnnxTensor out = view(hs[0], 0, n, hidden)) {
                Map<String, OnnxTensor> feed = new HashMap<>();
                feed.put(LayerGraphs.IDS, ids);
                feed.put(LayerGraphs.weightRole("embed"), weights.tensor(weightName(LayerGraphs.weightRole("embed"), 0)));
                run(embed, feed, Map.of(H_OUT, out), Set.of()).close();
            }
            for (int i = 0; i < layers; i++) {
                MemorySegment hIn = hs[bw ? i : i % 2], hOut = hs[bw ? i + 1 : (i + 1) % 2], o = os[bw ? i : 0];
                Map<String, OnnxTensor> loraFeed = loraTensors(i);
                try {
                    attentionIn(i, hIn, q, k, v, loraFeed);
                    attentionForward(q, k, v, o);
                    for (int r0 = 0; r0 < n; r0 += rowBlock) {
                        int rows = Math.min(rowBlock, n - r0);
                        try (OnnxTensor hT = view(hIn, (long) r0 * hidden, rows, hidden); OnnxTensor oT = view(o, (long) r0 * qd, rows, qd);
                             OnnxTensor outT = view(hOut, (long) r0 * hidden, rows, hidden); OnnxTensor off = rowOffset(r0)) {
                            Map<String, OnnxTensor> feed = layerFeed(mlp, i, loraFeed, off);
                            feed.put(H, hT);
                            feed.put(O, oT);
                            run(mlp, feed, Map.of(H_OUT, outT), Set.of()).close();
                        }
                    }
                } finally {
                    loraFeed.values().forEach(OnnxTensor::close);
                }
            }
            MemorySegment hLast = hs[bw ? layers : layers % 2];

            // head: final norm, rows at the targets, chunks against the vocabulary
            int kk = targets.length;
            MemorySegment normed = floats((long) n * hidden), hk = floats((long) kk * hidden);
            for (int r0 = 0; r0 < n; r0 += rowBlock) {
                int rows = Math.min(rowBlock, n - r0);
                try (OnnxTensor hT = view(hLast, (long) r0 * hidden, rows, hidden); OnnxTensor outT = view(normed, (long) r0 * hidden, rows, hidden)) {
                    Map<String, OnnxTensor> feed = new HashMap<>();
                    feed.put(H, hT);
                    feed.put(LayerGraphs.weightRole("model.norm.weight"), weights.tensor("model.norm.weight"));
                    run(norm, feed, Map.of(NORMED, outT), Set.of()).close();
                }
            }
            long rowBytes = 4L * hidden;
            for (int t = 0; t < kk; t++) MemorySegment.copy(normed, targets[t] * rowBytes, hk, t * rowBytes, rowBytes);
            MemorySegment dhk = bw ? floats((long) kk * hidden) : null;
            float[] logps = new float[kk];
            float[][] kl = {null};
            double loss = 0;
            for (int c0 = 0; c0 < kk; c0 += headChunk) loss += headChunk(c0, Math.min(headChunk, kk - c0), hk, dhk, logps, kl);
            if (!bw) return new Result(loss, logps, kl[0], Map.of());

            // backward: the head's row gradients back to all positions, through the final norm
            MemorySegment dNormed = normed; // reused: the forward values are no longer needed
            dNormed.fill((byte) 0);
            for (int t = 0; t < kk; t++) addRow(dNormed, targets[t] * hidden, dhk, (long) t * hidden, hidden);
            MemorySegment dh = floats((long) n * hidden), dhOther = floats((long) n * hidden);
            for (int r0 = 0; r0 < n; r0 += rowBlock) {
                int rows = Math.min(rowBlock, n - r0);
                try (OnnxTensor hT = view(hLast, (long) r0 * hidden, rows, hidden); OnnxTensor gT = view(dNormed, (long) r0 * hidden, rows, hidden);
                     OnnxTensor outT = view(dh, (long) r0 * hidden, rows, hidden)) {
                    Map<String, OnnxTensor> feed = new HashMap<>();
                    feed.put(H, hT);
                    feed.put(Vjp.GRAD + NORMED, gT);
                    feed.put(LayerGraphs.weightRole("model.norm.weight"), weights.tensor("model.norm.weight"));
                    run(normVjp, feed, Map.of(Vjp.GRAD + H, outT), Set.of()).close();
                }
            }
            MemorySegment dq = floats((long) n * qd), dk = floats((long) n * kd), dv = floats((long) n * kd), dO = floats((long) n * qd);
            MemorySegment dkPart = floats((long) s * kd), dvPart = floats((long) s * kd);
            Map<String, float[]> grads = new HashMap<>();
            int heads = c.numAttentionHeads(), kvh = c.numKeyValueHeads(), d = c.headDim();
            for (int i = layers - 1; i >= 0; i--) {
                Map<String, OnnxTensor> loraFeed = loraTensors(i);
                try {
                    attentionIn(i, hs[i], q, k, v, loraFeed);
                    // attention output projection and MLP: dh_{i+1} → dh (residual part), do, LoRA grads
                    for (int r0 = 0; r0 < n; r0 += rowBlock) {
                        int rows = Math.min(rowBlock, n - r0);
                        try (OnnxTensor hT = view(hs[i], (long) r0 * hidden, rows, hidden); OnnxTensor oT = view(os[i], (long) r0 * qd, rows, qd);
                             OnnxTensor gT = view(dh, (long) r0 * hidden, rows, hidden); OnnxTensor dhT = view(dhOther, (long) r0 * hidden, rows, hidden);
                             OnnxTensor doT = view(dO, (long) r0 * qd, rows, qd); OnnxTensor off = rowOffset(r0)) {
                            Map<String, OnnxTensor> feed = layerFeed(mlpVjp, i, loraFeed, off);
                            feed.put(H, hT);
                            feed.put(O, oT);
                            feed.put(Vjp.GRAD + H_OUT, gT);
                            try (OrtSession.Result r = run(mlpVjp, feed, Map.of(Vjp.GRAD + H, dhT, Vjp.GRAD + O, doT), loraGradNames(graphs.mlpTargets()))) {
                                collect(r, i, graphs.mlpTargets(), grads);
                            }
                        }
                    }
                    attentionBackward(q, k, v, dO, dq, dk, dv, dkPart, dvPart);
                    for (int r0 = 0; r0 < n; r0 += rowBlock) {
                        int rows = Math.min(rowBlock, n - r0);
                        try (OnnxTensor hT = view(hs[i], (long) r0 * hidden, rows, hidden); OnnxTensor dqT = view(dq, (long) r0 * qd, rows, heads, d);
                             OnnxTensor dkT = view(dk, (long) r0 * kd, rows, kvh, d); OnnxTensor dvT = view(dv, (long) r0 * kd, rows, kvh, d);
                             OnnxTensor resT = view(dhOther, (long) r0 * hidden, rows, hidden); OnnxTensor outT = view(dh, (long) r0 * hidden, rows, hidden);
                             OnnxTensor posT = positionView(r0, rows); OnnxTensor off = rowOffset(r0)) {
                            Map<String, OnnxTensor> feed = layerFeed(attnInVjp, i, loraFeed, off);
                            feed.put(H, hT);
                            feed.put(POSITIONS, posT);
                            feed.put(Vjp.GRAD + Q, dqT);
                            feed.put(Vjp.GRAD + LayerGraphs.K, dkT);
                            feed.put(Vjp.GRAD + LayerGraphs.V, dvT);
                            feed.put(LayerGraphs.DH_RESIDUAL, resT);
                            try (OrtSession.Result r = run(attnInVjp, feed, Map.of(Vjp.GRAD + H, outT), loraGradNames(graphs.attentionTargets()))) {
                                collect(r, i, graphs.attentionTargets(), grads);
                            }
                        }
                    }
                } finally {
                    loraFeed.values().forEach(OnnxTensor::close);
                }
            }
            Map<String, float[]> ordered = new LinkedHashMap<>();
            for (String p : params) ordered.put(p, grads.get(p));
            return new Result(loss, logps, kl[0], ordered);
        }

        /** One chunk of target rows through the loss head; returns its loss and fills log-probs, KL and the rows' gradient. */
        private double headChunk(int c0, int kc, MemorySegment hk, MemorySegment dhk, float[] logps, float[][] kl) throws OrtException {
            Map<String, OnnxTensor> feed = new HashMap<>();
            List<OnnxTensor> chunkOwned = new ArrayList<>();
            try {
                for (String in : head.getInputNames()) {
                    OnnxTensor t;
                    if (in.equals(NORMED)) t = view(hk, (long) c0 * hidden, kc, hidden);
                    else if (in.equals(LayerGraphs.weightRole("lm_head"))) {
                        feed.put(in, weights.tensor(weightName(in, 0)));
                        continue;
                    } else if (in.equals("target_positions")) {
                        long[] local = new long[kc];
                        for (int j = 0; j < kc; j++) local[j] = j;
                        t = OnnxTensor.createTensor(env, LongBuffer.wrap(local), new long[]{kc});
                    } else if (PER_TOKEN.contains(in)) {
                        Object[] val = required(batch, in);
                        t = val[0] instanceof long[] l ? OnnxTensor.createTensor(env, LongBuffer.wrap(l, c0, kc).slice(), new long[]{kc})
                                : OnnxTensor.createTensor(env, FloatBuffer.wrap((float[]) val[0], c0, kc).slice(), new long[]{kc});
                    } else {
                        Object[] val = required(batch, in);
                        t = val[0] instanceof long[] l ? OnnxTensor.createTensor(env, LongBuffer.wrap(l), (long[]) val[1])
                                : OnnxTensor.createTensor(env, FloatBuffer.wrap((float[]) val[0]), (long[]) val[1]);
                    }
                    chunkOwned.add(t);
                    feed.put(in, t);
                }
                Map<String, OnnxTensor> pinned = new HashMap<>();
                if (dhk != null) {
                    OnnxTensor g = view(dhk, (long) c0 * hidden, kc, hidden);
                    chunkOwned.add(g);
                    pinned.put(Vjp.GRAD + NORMED, g);
                }
                boolean hasKl = head.getOutputNames().contains(LossHead.KL);
                Set<String> want = hasKl ? Set.of(LossHead.LOSS, LossHead.LOGPS, LossHead.KL) : Set.of(LossHead.LOSS, LossHead.LOGPS);
                try (OrtSession.Result r = run(head, feed, pinned, want)) {
                    ((OnnxTensor) r.get(LossHead.LOGPS).orElseThrow()).getFloatBuffer().get(logps, c0, kc);
                    if (hasKl) {
                        if (kl[0] == null) kl[0] = new float[logps.length];
                        ((OnnxTensor) r.get(LossHead.KL).orElseThrow()).getFloatBuffer().get(kl[0], c0, kc);
                    }
                    return ((OnnxTensor) r.get(LossHead.LOSS).orElseThrow()).getFloatBuffer().get(0);
                }
            } finally {
                chunkOwned.forEach(OnnxTensor::close);
            }
        }

        /** q, k, v of a layer for all rows, block by block. */
        private void attentionIn(int layer, MemorySegment h, MemorySegment q, MemorySegment k, MemorySegment v,
                                 Map<String, OnnxTensor> loraFeed) throws OrtException {
            int heads = c.numAttentionHeads(), kvh = c.numKeyValueHeads(), d = c.headDim();
            for (int r0 = 0; r0 < n; r0 += rowBlock) {
                int rows = Math.min(rowBlock, n - r0);
                try (OnnxTensor hT = view(h, (long) r0 * hidden, rows, hidden); OnnxTensor qT = view(q, (long) r0 * qd, rows, heads, d);
                     OnnxTensor kT = view(k, (long) r0 * kd, rows, kvh, d); OnnxTensor vT = view(v, (long) r0 * kd, rows, kvh, d);
                     OnnxTensor posT = positionView(r0, rows); OnnxTensor off = rowOffset(r0)) {
                    Map<String, OnnxTensor> feed = layerFeed(attnIn, layer, loraFeed, off);
                    feed.put(H, hT);
                    feed.put(POSITIONS, posT);
                    run(attnIn, feed, Map.of(Q, qT, LayerGraphs.K, kT, LayerGraphs.V, vT), Set.of()).close();
                }
            }
        }

        OnnxTensor positionView(int r0, int rows) throws OrtException {
            ByteBuffer bb = posSeg.asSlice(8L * r0, 8L * rows).asByteBuffer().order(ByteOrder.nativeOrder());
            return OnnxTensor.createTensor(env, bb, new long[]{rows}, OnnxJavaType.INT64);
        }

        /** The first row's index, for the dropout masks of a block of rows (null without dropout). */
        OnnxTensor rowOffset(int r0) throws OrtException {
            return dropout > 0 ? OnnxTensor.createTensor(env, LongBuffer.wrap(new long[]{r0}), new long[]{1}) : null;
        }

        /** Whether positions [q0, q1) of a row are all padding (their outputs reach no loss term). */
        private boolean padding(int row, int q0, int q1) {
            for (int t = q0; t < q1; t++) if (mask[row * s + t] != 0) return false;
            return true;
        }

        /** One attention tile's work, given its inputs (q, k, v, key mask, query offset) and where its rows start. */
        private interface TileWork {
            void run(Map<String, OnnxTensor> inputs, long rowStart, int q0, int q1) throws OrtException;
        }

        /**
         * Every tile (batch row × block of queries against the row's causal keys) in order; a
         * tile of padding only is not run and its rows of {@code zeroWhenSkipped} are zeroed.
         */
        private void forEachTile(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment zeroWhenSkipped, TileWork work)
                throws OrtException {
            int heads = c.numAttentionHeads(), kvh = c.numKeyValueHeads(), d = c.headDim(), blk = options.attentionBlock();
            for (int row = 0; row < b; row++) {
                long base = (long) row * s;
                for (int q0 = 0; q0 < s; q0 += blk) {
                    int q1 = Math.min(s, q0 + blk), sq = q1 - q0;
                    if (padding(row, q0, q1)) {
                        zeroWhenSkipped.asSlice(4L * (base + q0) * qd, 4L * sq * qd).fill((byte) 0);
                        continue;
                    }
                    try (OnnxTensor qT = view(q, (base + q0) * qd, sq, heads, d); OnnxTensor kT = view(k, base * kd, q1, kvh, d);
                         OnnxTensor vT = view(v, base * kd, q1, kvh, d); OnnxTensor m = maskView(row, q1);
                         OnnxTensor off = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[]{q0}), new long[]{1})) {
                        work.run(Map.of(Q, qT, LayerGraphs.K, kT, LayerGraphs.V, vT, KEY_MASK, m, QUERY_OFFSET, off), base, q0, q1);
                    }
                }
            }
        }

        private void attentionForward(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment o) throws OrtException {
            forEachTile(q, k, v, o, (in, base, q0, q1) -> {
                try (OnnxTensor oT = view(o, (base + q0) * qd, q1 - q0, qd)) {
                    run(tile, in, Map.of(O, oT), Set.of()).close();
                }
            });
        }

        private void attentionBackward(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment dO, MemorySegment dq,
                                       MemorySegment dk, MemorySegment dv, MemorySegment dkPart, MemorySegment dvPart) throws OrtException {
            int heads = c.numAttentionHeads(), kvh = c.numKeyValueHeads(), d = c.headDim();
            dk.fill((byte) 0);
            dv.fill((byte) 0);
            forEachTile(q, k, v, dq, (in, base, q0, q1) -> {
                int sq = q1 - q0;
                try (OnnxTensor doT = view(dO, (base + q0) * qd, sq, qd); OnnxTensor dqT = view(dq, (base + q0) * qd, sq, heads, d);
                     OnnxTensor dkT = view(dkPart, 0, q1, kvh, d); OnnxTensor dvT = view(dvPart, 0, q1, kvh, d)) {
                    Map<String, OnnxTensor> feed = new HashMap<>(in);
                    feed.put(Vjp.GRAD + O, doT);
                    run(tileVjp, feed, Map.of(Vjp.GRAD + Q, dqT, Vjp.GRAD + LayerGraphs.K, dkT, Vjp.GRAD + LayerGraphs.V, dvT), Set.of()).close();
                }
                addRow(dk, base * kd, dkPart, 0, (long) q1 * kd);
                addRow(dv, base * kd, dvPart, 0, (long) q1 * kd);
            });
        }

        /** The layer's weights, LoRA factors, scale and dropout inputs that {@code session} takes. */
        private Map<String, OnnxTensor> layerFeed(OrtSession session, int layer, Map<String, OnnxTensor> loraFeed, OnnxTensor rowOffset)
                throws OrtException {
            Map<String, OnnxTensor> feed = new HashMap<>();
            for (String in : session.getInputNames()) {
                if (in.startsWith("w.")) feed.put(in, weights.tensor(weightName(in, layer)));
                else if (in.startsWith("lora_A.") || in.startsWith("lora_B.")) feed.put(in, loraFeed.get(in));
                else if (in.startsWith("salt.")) feed.put(in, loraFeed.get(in));
                else if (in.equals(DecoderGraph.LORA_SCALE)) feed.put(in, scale);
                else if (in.equals(LayerGraphs.SEED)) feed.put(in, seed);
                else if (in.equals(LayerGraphs.ROW_OFFSET)) feed.put(in, rowOffset);
            }
            return feed;
        }

        /** Layer {@code layer}'s LoRA factors under their role names (and dropout salts); the caller closes them. */
        private Map<String, OnnxTensor> loraTensors(int layer) throws OrtException {
            Map<String, OnnxTensor> out = new HashMap<>();
            try {
                for (Projection p : allTargets()) {
                    for (char ab : new char[]{'A', 'B'}) {
                        String name = PeftAdapter.tensorName(layer, p, ab);
                        out.put(LayerGraphs.loraRole(p, ab), OnnxTensor.createTensor(env, FloatBuffer.wrap(lora.get(name)), shapes.get(name)));
                    }
                    if (dropout > 0) {
                        out.put(LayerGraphs.saltRole(p), OnnxTensor.createTensor(env, LongBuffer.wrap(new long[]{LayerGraphs.salt(layer, p)}), new long[]{1}));
                    }
                }
                return out;
            } catch (OrtException | RuntimeException e) {
                out.values().forEach(OnnxTensor::close);
                throw e;
            }
        }

        private List<Projection> allTargets() {
            List<Projection> all = new ArrayList<>(graphs.attentionTargets());
            all.addAll(graphs.mlpTargets());
            return all;
        }

        private Set<String> loraGradNames(List<Projection> ps) {
            Set<String> out = new java.util.HashSet<>();
            for (Projection p : ps) {
                out.add(Vjp.GRAD + LayerGraphs.loraRole(p, 'A'));
                out.add(Vjp.GRAD + LayerGraphs.loraRole(p, 'B'));
            }
            return out;
        }

        private void collect(OrtSession.Result r, int layer, List<Projection> ps, Map<String, float[]> grads) {
            for (Projection p : ps) {
                for (char ab : new char[]{'A', 'B'}) {
                    FloatBuffer fb = ((OnnxTensor) r.get(Vjp.GRAD + LayerGraphs.loraRole(p, ab)).orElseThrow()).getFloatBuffer();
                    float[] sum = grads.get(PeftAdapter.tensorName(layer, p, ab));
                    if (sum == null) {
                        float[] a = new float[fb.remaining()];
                        fb.get(a);
                        grads.put(PeftAdapter.tensorName(layer, p, ab), a);
                    } else {
                        for (int j = 0; j < sum.length; j++) sum[j] += fb.get(j); // blocks of rows, in order
                    }
                }
            }
        }

        @Override
        public void close() {
            owned.forEach(OnnxTensor::close);
        }
    }

    private OrtSession.Result run(OrtSession session, Map<String, OnnxTensor> feed, Map<String, ? extends OnnxValue> pinned,
                                  Set<String> requested) throws OrtException {
        long t0 = System.nanoTime();
        OrtSession.Result r = session.run(feed, requested, pinned);
        long[] t = timing.get(session);
        t[0] += System.nanoTime() - t0;
        t[1]++;
        return r;
    }

    /** Seconds and runs per piece since the engine opened (where a step's time goes). */
    public String timings() {
        StringBuilder sb = new StringBuilder();
        sessions.forEach((session, name) -> sb.append(String.format("%s %.2fs/%d  ", name, timing.get(session)[0] / 1e9, timing.get(session)[1])));
        return sb.toString().trim();
    }

    /** dst[dOff + j] += src[sOff + j] for j < count (float offsets). */
    static void addRow(MemorySegment dst, long dOff, MemorySegment src, long sOff, long count) {
        for (long j = 0; j < count; j++) {
            long di = dOff + j;
            dst.setAtIndex(ValueLayout.JAVA_FLOAT, di, dst.getAtIndex(ValueLayout.JAVA_FLOAT, di) + src.getAtIndex(ValueLayout.JAVA_FLOAT, sOff + j));
        }
    }

    private void closeQuietly() {
        for (OrtSession s : sessions.keySet()) {
            try {
                s.close();
            } catch (OrtException ignored) {
                // closing after a failed construction: the first error is the one to report
            }
        }
        if (ownsWeights && weights != null) weights.close();
    }

    @Override
    public void close() throws OrtException {
        if (closed) return;
        closed = true;
        OrtException first = null;
        for (OrtSession s : sessions.keySet()) {
            try {
                s.close();
            } catch (OrtException e) {
                if (first == null) first = e;
                else first.addSuppressed(e);
            }
        }
        if (ownsWeights) weights.close();
        if (first != null) throw first;
    }
}
