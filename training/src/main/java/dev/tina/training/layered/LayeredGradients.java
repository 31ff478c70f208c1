package dev.tina.training.layered;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.SharedWeights;
import dev.tina.training.autodiff.Vjp;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.MicroBatch;
import dev.tina.training.graph.TrainingGraph;
import dev.tina.training.graph.TrainingInput;
import dev.tina.training.ort.GradientEngine;
import dev.tina.training.ort.OrtValues;
import dev.tina.training.ort.TrainingNatives;

import java.lang.foreign.MemorySegment;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.tina.training.layered.LayerGraphs.EMBED;
import static dev.tina.training.layered.LayerGraphs.FINAL_NORM;
import static dev.tina.training.layered.LayerGraphs.H;
import static dev.tina.training.layered.LayerGraphs.H_OUT;
import static dev.tina.training.layered.LayerGraphs.KEY_MASK;
import static dev.tina.training.layered.LayerGraphs.LM_HEAD;
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
 * ten small sessions ({@link LayerSessions}) serve every layer without a copy. Owns its sessions
 * (and the weights when it mapped them itself).
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
    private final LayerSessions pieces;
    /** The LoRA gradient outputs of the two per-layer backward pieces. */
    private final Set<String> attentionGrads, mlpGrads;

    /**
     * @param shared the export's mapped weights (null: map them here, and unmap on close)
     */
    public LayeredGradients(Path exportDir, ModelConfig config, List<Projection> targets, int rank, LossHead lossHead,
                            double loraDropout, SharedWeights shared, Options options) throws Exception {
        // no targets: the base model's forward (GRPO's adapter-off reference)
        if (targets.isEmpty() && options.backward()) throw new IllegalArgumentException("no LoRA target modules given");
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
            for (String role : LayerGraphs.weightRoles(config)) storage.put(role, LayerGraphs.storageType(weight(role, 0).getInfo().type));
            this.graphs = new LayerGraphs(config, targets, storage, loraDropout);
            this.attentionGrads = loraGradNames(graphs.attentionTargets());
            this.mlpGrads = loraGradNames(graphs.mlpTargets());
            this.pieces = new LayerSessions(env, graphs, lossHead, options.backward()); // last: nothing after it can fail
        } catch (Exception | Error e) {
            if (ownsWeights) weights.close();
            throw e;
        }
    }

    @Override
    public List<String> params() { return params; }

    @Override
    public Map<String, long[]> shapes() { return shapes; }

    /** The export's weight playing {@code role} in layer {@code layer}, mapped (owned by {@link SharedWeights}). */
    private OnnxTensor weight(String role, int layer) { return weights.tensor(LayerGraphs.exportName(c, role, layer)); }

    private volatile boolean closed;

    // ------------------------------------------------------------------------------------ run

    @Override
    public Result run(MicroBatch batch, Map<String, float[]> lora) throws Exception {
        if (closed) throw new IllegalStateException("this gradient engine is closed");
        for (String p : params) if (!lora.containsKey(p)) throw new IllegalArgumentException("no weights given for " + p);
        if (dropout > 0 && batch.dropoutSeed() == null) {
            throw new IllegalArgumentException(batch + " lacks input '" + TrainingInput.DROPOUT_SEED.graphName() + "' (LoRA dropout is on)");
        }
        try (Run run = new Run(batch, lora)) {
            return run.execute();
        }
    }

    /** One micro-batch's buffers and tensors; everything it creates is closed with it. */
    private final class Run implements AutoCloseable {
        private final TokenBuffers buf;
        private final MicroBatch batch;
        private final Map<String, float[]> lora;
        private final int b, s, n, hidden, heads, kvHeads, headDim, qd, kd, layers, rowBlock = options.rowBlock();
        private final long[] mask, targets;
        private final List<OnnxTensor> owned = new ArrayList<>();
        private final OnnxTensor scale, seed;
        private final MemorySegment maskSeg, posSeg;
        /** This layer's q, k, v (forward, and recomputed in backward). */
        private final MemorySegment q, k, v;

        Run(MicroBatch batch, Map<String, float[]> lora) throws OrtException {
            this.batch = batch;
            this.lora = lora;
            this.b = batch.rows();
            this.s = batch.length();
            this.n = b * s;
            this.mask = batch.attentionMask();
            this.targets = batch.targetPositions();
            this.hidden = c.hiddenSize();
            this.heads = c.numAttentionHeads();
            this.kvHeads = c.numKeyValueHeads();
            this.headDim = c.headDim();
            this.qd = heads * headDim;
            this.kd = kvHeads * headDim;
            this.layers = c.numHiddenLayers();
            this.buf = new TokenBuffers(env, headDim);
            try {
                this.scale = own(OnnxTensor.createTensor(env, FloatBuffer.wrap(new float[]{batch.loraScale()}), new long[]{1}));
                Long sd = batch.dropoutSeed(); // present when dropout is on: run() checked
                this.seed = sd == null ? null : own(OnnxTensor.createTensor(env, LongBuffer.wrap(new long[]{sd}), new long[]{1}));
                this.maskSeg = buf.longs(mask);
                this.posSeg = buf.longs(batch.positionIds());
                this.q = buf.floats((long) n * qd);
                this.k = buf.floats((long) n * kd);
                this.v = buf.floats((long) n * kd);
            } catch (OrtException | RuntimeException | Error e) {
                close(); // the constructor failed: nobody else will close what it made
                throw e;
            }
        }

        private OnnxTensor own(OnnxTensor t) {
            owned.add(t);
            return t;
        }

        /** The first row's index, for the dropout masks of a block of rows (null without dropout). */
        OnnxTensor rowOffset(int r0) throws OrtException {
            return dropout > 0 ? OnnxTensor.createTensor(env, LongBuffer.wrap(new long[]{r0}), new long[]{1}) : null;
        }

        /** Work on the tokens [r0, r0 + rows) of one row block. */
        private interface RowWork {
            void run(int r0, int rows) throws OrtException;
        }

        /** The per-token pieces run on blocks of at most {@code rowBlock} tokens, in order. */
        private void forEachRowBlock(RowWork work) throws OrtException {
            for (int r0 = 0; r0 < n; r0 += rowBlock) work.run(r0, Math.min(rowBlock, n - r0));
        }

        Result execute() throws OrtException {
            boolean bw = options.backward();
            // kept for backward: h_i (layers + 1) and o_i; forward only: two h buffers in turn and one o
            MemorySegment[] hs = new MemorySegment[bw ? layers + 1 : 2], os = new MemorySegment[bw ? layers : 1];
            for (int i = 0; i < hs.length; i++) hs[i] = buf.floats((long) n * hidden);
            for (int i = 0; i < os.length; i++) os[i] = buf.floats((long) n * qd);
            MemorySegment hLast = forward(hs, os);
            HeadOutput out = head(hLast);
            Map<String, float[]> grads = bw ? backward(hs, os, out.dRows()) : Map.of();
            return new Result(out.loss(), out.logps(), out.kl(), grads);
        }

        // ------------------------------------------------------------------------ forward

        /** Embedding and every layer; returns the last hidden states. */
        private MemorySegment forward(MemorySegment[] hs, MemorySegment[] os) throws OrtException {
            boolean keep = options.backward();
            try (OnnxTensor ids = OnnxTensor.createTensor(env, LongBuffer.wrap(batch.inputIds()), new long[]{b, s});
                 OnnxTensor out = buf.rows(hs[0], hidden, 0, n)) {
                pieces.run(pieces.embed, Map.of(LayerGraphs.IDS, ids, EMBED, weight(EMBED, 0)), Map.of(H_OUT, out), Set.of()).close();
            }
            for (int i = 0; i < layers; i++) {
                MemorySegment hIn = hs[keep ? i : i % 2], hOut = hs[keep ? i + 1 : (i + 1) % 2], o = os[keep ? i : 0];
                try (Layer layer = new Layer(i)) {
                    attentionIn(layer, hIn);
                    forEachTile(o, (in, base, q0, q1) -> {
                        try (OnnxTensor oT = buf.rows(o, qd, Math.toIntExact(base + q0), q1 - q0)) {
                            pieces.run(pieces.tile, in, Map.of(O, oT), Set.of()).close();
                        }
                    });
                    forEachRowBlock((r0, rows) -> {
                        try (OnnxTensor hT = buf.rows(hIn, hidden, r0, rows); OnnxTensor oT = buf.rows(o, qd, r0, rows);
                             OnnxTensor outT = buf.rows(hOut, hidden, r0, rows); OnnxTensor off = rowOffset(r0)) {
                            Map<String, OnnxTensor> feed = layer.feed(pieces.mlp, off);
                            feed.put(H, hT);
                            feed.put(O, oT);
                            pieces.run(pieces.mlp, feed, Map.of(H_OUT, outT), Set.of()).close();
                        }
                    });
                }
            }
            return hs[keep ? layers : layers % 2];
        }

        /** q, k, v of a layer for all tokens, block by block. */
        private void attentionIn(Layer layer, MemorySegment h) throws OrtException {
            forEachRowBlock((r0, rows) -> {
                try (OnnxTensor hT = buf.rows(h, hidden, r0, rows); OnnxTensor qT = buf.headRows(q, heads, r0, rows);
                     OnnxTensor kT = buf.headRows(k, kvHeads, r0, rows); OnnxTensor vT = buf.headRows(v, kvHeads, r0, rows);
                     OnnxTensor posT = buf.longView(posSeg, r0, rows); OnnxTensor off = rowOffset(r0)) {
                    Map<String, OnnxTensor> feed = layer.feed(pieces.attnIn, off);
                    feed.put(H, hT);
                    feed.put(POSITIONS, posT);
                    pieces.run(pieces.attnIn, feed, Map.of(Q, qT, LayerGraphs.K, kT, LayerGraphs.V, vT), Set.of()).close();
                }
            });
        }

        /** Whether positions [q0, q1) of a row are all padding (their outputs reach no loss term). */
        private boolean padding(int row, int q0, int q1) {
            for (int t = q0; t < q1; t++) if (mask[row * s + t] != 0) return false;
            return true;
        }

        /** One attention tile's work, given its inputs (q, k, v, key mask, query offset) and where its row starts. */
        private interface TileWork {
            void run(Map<String, OnnxTensor> inputs, long rowStart, int q0, int q1) throws OrtException;
        }

        /**
         * Every tile (batch row × block of queries against the row's causal keys) of this layer's
         * q, k, v in order; a tile of padding only is not run and its rows of {@code zeroWhenSkipped} are zeroed.
         */
        private void forEachTile(MemorySegment zeroWhenSkipped, TileWork work) throws OrtException {
            int blk = options.attentionBlock();
            for (int row = 0; row < b; row++) {
                long base = (long) row * s;
                for (int q0 = 0; q0 < s; q0 += blk) {
                    int q1 = Math.min(s, q0 + blk), sq = q1 - q0;
                    if (padding(row, q0, q1)) {
                        zeroWhenSkipped.asSlice(4L * (base + q0) * qd, 4L * sq * qd).fill((byte) 0);
                        continue;
                    }
                    try (OnnxTensor qT = buf.view(q, (base + q0) * qd, sq, heads, headDim); OnnxTensor kT = buf.view(k, base * kd, q1, kvHeads, headDim);
                         OnnxTensor vT = buf.view(v, base * kd, q1, kvHeads, headDim); OnnxTensor m = buf.longView(maskSeg, base, q1);
                         OnnxTensor off = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[]{q0}), new long[]{1})) {
                        work.run(Map.of(Q, qT, LayerGraphs.K, kT, LayerGraphs.V, vT, KEY_MASK, m, QUERY_OFFSET, off), base, q0, q1);
                    }
                }
            }
        }

        // ------------------------------------------------------------------------ head

        /** The loss head's results; {@code dRows} [targets × hidden] the gradient of the normed rows at the targets (backward only). */
        private record HeadOutput(double loss, float[] logps, float[] kl, MemorySegment dRows) {}

        /** Final norm, the rows at the targets, then chunks of them against the vocabulary. */
        private HeadOutput head(MemorySegment hLast) throws OrtException {
            int kk = targets.length;
            MemorySegment normed = buf.floats((long) n * hidden), hk = buf.floats((long) kk * hidden);
            forEachRowBlock((r0, rows) -> {
                try (OnnxTensor hT = buf.rows(hLast, hidden, r0, rows); OnnxTensor outT = buf.rows(normed, hidden, r0, rows)) {
                    pieces.run(pieces.norm, Map.of(H, hT, FINAL_NORM, weight(FINAL_NORM, 0)), Map.of(NORMED, outT), Set.of()).close();
                }
            });
            long rowBytes = 4L * hidden;
            for (int t = 0; t < kk; t++) MemorySegment.copy(normed, targets[t] * rowBytes, hk, t * rowBytes, rowBytes);
            MemorySegment dhk = options.backward() ? buf.floats((long) kk * hidden) : null;
            float[] logps = new float[kk], kl = pieces.head.getOutputNames().contains(LossHead.KL) ? new float[kk] : null;
            double loss = 0;
            for (int c0 = 0; c0 < kk; c0 += headChunk) loss += headChunk(c0, Math.min(headChunk, kk - c0), hk, dhk, logps, kl);
            return new HeadOutput(loss, logps, kl, dhk);
        }

        /** One chunk of target rows through the loss head; returns its loss and fills log-probs, KL and the rows' gradient. */
        private double headChunk(int c0, int kc, MemorySegment hk, MemorySegment dhk, float[] logps, float[] kl) throws OrtException {
            Map<String, OnnxTensor> feed = new HashMap<>(), pinned = new HashMap<>();
            List<OnnxTensor> chunkOwned = new ArrayList<>();
            try {
                for (String name : pieces.head.getInputNames()) {
                    if (name.equals(LM_HEAD)) {
                        feed.put(name, weight(name, 0));
                        continue;
                    }
                    OnnxTensor t = name.equals(NORMED) ? buf.rows(hk, hidden, c0, kc) : chunkInput(TrainingInput.of(name), c0, kc);
                    chunkOwned.add(t);
                    feed.put(name, t);
                }
                if (dhk != null) {
                    OnnxTensor g = buf.rows(dhk, hidden, c0, kc);
                    chunkOwned.add(g);
                    pinned.put(Vjp.GRAD + NORMED, g);
                }
                Set<String> want = kl != null ? Set.of(LossHead.LOSS, LossHead.LOGPS, LossHead.KL) : Set.of(LossHead.LOSS, LossHead.LOGPS);
                try (OrtSession.Result r = pieces.run(pieces.head, feed, pinned, want)) {
                    ((OnnxTensor) r.get(LossHead.LOGPS).orElseThrow()).getFloatBuffer().get(logps, c0, kc);
                    if (kl != null) ((OnnxTensor) r.get(LossHead.KL).orElseThrow()).getFloatBuffer().get(kl, c0, kc);
                    return ((OnnxTensor) r.get(LossHead.LOSS).orElseThrow()).getFloatBuffer().get(0);
                }
            } finally {
                chunkOwned.forEach(OnnxTensor::close);
            }
        }

        /** A loss-head input for the target rows [c0, c0 + kc): per-target values sliced, positions local to the chunk. */
        private OnnxTensor chunkInput(TrainingInput in, int c0, int kc) throws OrtException {
            if (in == TrainingInput.TARGET_POSITIONS) {
                long[] local = new long[kc];
                for (int j = 0; j < kc; j++) local[j] = j;
                return OnnxTensor.createTensor(env, LongBuffer.wrap(local), new long[]{kc});
            }
            Object values = batch.require(in);
            if (in.extent() != TrainingInput.Extent.TARGETS) return OrtValues.tensor(env, values, batch.shape(in));
            return values instanceof long[] l ? OnnxTensor.createTensor(env, LongBuffer.wrap(l, c0, kc).slice(), new long[]{kc})
                    : OnnxTensor.createTensor(env, FloatBuffer.wrap((float[]) values, c0, kc).slice(), new long[]{kc});
        }

        // ------------------------------------------------------------------------ backward

        /** The layers in reverse, each recomputed, carrying the residual-stream gradient; returns the LoRA gradients. */
        private Map<String, float[]> backward(MemorySegment[] hs, MemorySegment[] os, MemorySegment dRows) throws OrtException {
            // the head's row gradients back to all positions, through the final norm
            MemorySegment dNormed = buf.floats((long) n * hidden), dh = buf.floats((long) n * hidden), dhOther = buf.floats((long) n * hidden);
            for (int t = 0; t < targets.length; t++) TokenBuffers.addRow(dNormed, targets[t] * hidden, dRows, (long) t * hidden, hidden);
            forEachRowBlock((r0, rows) -> {
                try (OnnxTensor hT = buf.rows(hs[layers], hidden, r0, rows); OnnxTensor gT = buf.rows(dNormed, hidden, r0, rows);
                     OnnxTensor outT = buf.rows(dh, hidden, r0, rows)) {
                    pieces.run(pieces.normVjp, Map.of(H, hT, Vjp.GRAD + NORMED, gT, FINAL_NORM, weight(FINAL_NORM, 0)),
                            Map.of(Vjp.GRAD + H, outT), Set.of()).close();
                }
            });
            MemorySegment dq = buf.floats((long) n * qd), dk = buf.floats((long) n * kd), dv = buf.floats((long) n * kd), dO = buf.floats((long) n * qd);
            MemorySegment[] scratch = {buf.floats((long) s * kd), buf.floats((long) s * kd)}; // one row's dk, dv parts, shared by the layers
            Map<String, float[]> grads = new HashMap<>();
            for (int i = layers - 1; i >= 0; i--) {
                MemorySegment h = hs[i], o = os[i];
                try (Layer layer = new Layer(i)) {
                    attentionIn(layer, h); // recompute q, k, v
                    // o_proj and MLP: dh_{i+1} → dhOther (the residual part of dh_i), do, LoRA gradients
                    forEachRowBlock((r0, rows) -> {
                        try (OnnxTensor hT = buf.rows(h, hidden, r0, rows); OnnxTensor oT = buf.rows(o, qd, r0, rows);
                             OnnxTensor gT = buf.rows(dh, hidden, r0, rows); OnnxTensor dhT = buf.rows(dhOther, hidden, r0, rows);
                             OnnxTensor doT = buf.rows(dO, qd, r0, rows); OnnxTensor off = rowOffset(r0)) {
                            Map<String, OnnxTensor> feed = layer.feed(pieces.mlpVjp, off);
                            feed.put(H, hT);
                            feed.put(O, oT);
                            feed.put(Vjp.GRAD + H_OUT, gT);
                            try (OrtSession.Result r = pieces.run(pieces.mlpVjp, feed, Map.of(Vjp.GRAD + H, dhT, Vjp.GRAD + O, doT), mlpGrads)) {
                                layer.collect(r, graphs.mlpTargets(), grads);
                            }
                        }
                    });
                    attentionBackward(dO, dq, dk, dv, scratch[0], scratch[1]);
                    // q, k, v projections, norm and residual: → dh_i, LoRA gradients
                    forEachRowBlock((r0, rows) -> {
                        try (OnnxTensor hT = buf.rows(h, hidden, r0, rows); OnnxTensor dqT = buf.headRows(dq, heads, r0, rows);
                             OnnxTensor dkT = buf.headRows(dk, kvHeads, r0, rows); OnnxTensor dvT = buf.headRows(dv, kvHeads, r0, rows);
                             OnnxTensor resT = buf.rows(dhOther, hidden, r0, rows); OnnxTensor outT = buf.rows(dh, hidden, r0, rows);
                             OnnxTensor posT = buf.longView(posSeg, r0, rows); OnnxTensor off = rowOffset(r0)) {
                            Map<String, OnnxTensor> feed = layer.feed(pieces.attnInVjp, off);
                            feed.put(H, hT);
                            feed.put(POSITIONS, posT);
                            feed.put(Vjp.GRAD + Q, dqT);
                            feed.put(Vjp.GRAD + LayerGraphs.K, dkT);
                            feed.put(Vjp.GRAD + LayerGraphs.V, dvT);
                            feed.put(LayerGraphs.DH_RESIDUAL, resT);
                            try (OrtSession.Result r = pieces.run(pieces.attnInVjp, feed, Map.of(Vjp.GRAD + H, outT), attentionGrads)) {
                                layer.collect(r, graphs.attentionTargets(), grads);
                            }
                        }
                    });
                }
            }
            Map<String, float[]> ordered = new LinkedHashMap<>();
            for (String p : params) ordered.put(p, grads.get(p));
            return ordered;
        }

        /** dO → dq, and dk, dv summed over the tiles of each row (each tile's part computed in a row-sized scratch buffer). */
        private void attentionBackward(MemorySegment dO, MemorySegment dq, MemorySegment dk, MemorySegment dv, MemorySegment dkPart,
                                       MemorySegment dvPart) throws OrtException {
            dk.fill((byte) 0);
            dv.fill((byte) 0);
            forEachTile(dq, (in, base, q0, q1) -> {
                int sq = q1 - q0;
                try (OnnxTensor doT = buf.view(dO, (base + q0) * qd, sq, qd); OnnxTensor dqT = buf.view(dq, (base + q0) * qd, sq, heads, headDim);
                     OnnxTensor dkT = buf.view(dkPart, 0, q1, kvHeads, headDim); OnnxTensor dvT = buf.view(dvPart, 0, q1, kvHeads, headDim)) {
                    Map<String, OnnxTensor> feed = new HashMap<>(in);
                    feed.put(Vjp.GRAD + O, doT);
                    pieces.run(pieces.tileVjp, feed, Map.of(Vjp.GRAD + Q, dqT, Vjp.GRAD + LayerGraphs.K, dkT, Vjp.GRAD + LayerGraphs.V, dvT), Set.of()).close();
                }
                TokenBuffers.addRow(dk, base * kd, dkPart, 0, (long) q1 * kd);
                TokenBuffers.addRow(dv, base * kd, dvPart, 0, (long) q1 * kd);
            });
        }

        /** One decoder layer's LoRA factors (and dropout salts) as tensors under their role names; closes them. */
        private final class Layer implements AutoCloseable {
            private final int index;
            private final Map<String, OnnxTensor> factors = new HashMap<>();

            Layer(int index) throws OrtException {
                this.index = index;
                try {
                    for (Projection p : graphs.targets()) {
                        for (char ab : new char[]{'A', 'B'}) {
                            String name = PeftAdapter.tensorName(index, p, ab);
                            factors.put(LayerGraphs.loraRole(p, ab), OnnxTensor.createTensor(env, FloatBuffer.wrap(lora.get(name)), shapes.get(name)));
                        }
                        if (dropout > 0) {
                            factors.put(LayerGraphs.saltRole(p), OnnxTensor.createTensor(env, LongBuffer.wrap(new long[]{LayerGraphs.salt(index, p)}), new long[]{1}));
                        }
                    }
                } catch (OrtException | RuntimeException e) {
                    close();
                    throw e;
                }
            }

            /** The layer's weights, LoRA factors, scale and dropout inputs that {@code session} takes. */
            Map<String, OnnxTensor> feed(OrtSession session, OnnxTensor rowOffset) {
                Map<String, OnnxTensor> feed = new HashMap<>();
                for (String in : session.getInputNames()) {
                    if (in.startsWith("w.")) feed.put(in, weight(in, index));
                    else if (factors.containsKey(in)) feed.put(in, factors.get(in));
                    else if (in.equals(DecoderGraph.LORA_SCALE)) feed.put(in, scale);
                    else if (in.equals(LayerGraphs.SEED)) feed.put(in, seed);
                    else if (in.equals(LayerGraphs.ROW_OFFSET)) feed.put(in, rowOffset);
                }
                return feed;
            }

            /** Adds a row block's LoRA gradients of {@code ps} to {@code grads} (blocks of rows, in order). */
            void collect(OrtSession.Result r, List<Projection> ps, Map<String, float[]> grads) {
                for (Projection p : ps) {
                    for (char ab : new char[]{'A', 'B'}) {
                        FloatBuffer fb = ((OnnxTensor) r.get(Vjp.GRAD + LayerGraphs.loraRole(p, ab)).orElseThrow()).getFloatBuffer();
                        float[] sum = grads.computeIfAbsent(PeftAdapter.tensorName(index, p, ab), x -> new float[fb.remaining()]);
                        for (int j = 0; j < sum.length; j++) sum[j] += fb.get(j);
                    }
                }
            }

            @Override
            public void close() {
                factors.values().forEach(OnnxTensor::close);
            }
        }

        @Override
        public void close() {
            owned.forEach(OnnxTensor::close);
            buf.close();
        }
    }

    private static Set<String> loraGradNames(List<Projection> ps) {
        Set<String> out = new HashSet<>();
        for (Projection p : ps) for (char ab : new char[]{'A', 'B'}) out.add(Vjp.GRAD + LayerGraphs.loraRole(p, ab));
        return out;
    }

    /** Seconds and runs per piece since the engine opened (where a step's time goes). */
    public String timings() { return pieces.timings(); }

    @Override
    public void close() throws OrtException {
        if (closed) return;
        closed = true;
        try (pieces) {
            // sessions closed, then the weights unmapped even when a session's close failed
        } finally {
            if (ownsWeights) weights.close();
        }
    }
}
