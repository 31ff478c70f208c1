package dev.tina.runtime.gpu;

import ai.onnxruntime.OnnxTensor;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.sampling.DecoderBackend;
import org.bytedeco.tensorrt.nvinfer.IExecutionContext;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Batched decoding on a {@link TensorRtEngine} with the KV cache resident on the GPU.
 *
 * <p>The cache is two sets of device buffers (one per layer and key/value): each pass reads the
 * past from one set and writes the present into the other, then the roles swap, so the cache
 * never crosses the PCIe bus; only token ids, positions and the mask go up (bytes per row) and
 * the last-position logits come down (what sampling in Java needs). Row selection (fanning a
 * prompt out to its samples, dropping finished rows) is device-to-device copies of contiguous
 * row blocks. Every sequence starts with one masked slot (see {@link TensorRtProfiles}).
 *
 * <p>LoRA factors live on the device too, zero-padded to the engine's maximum rank
 * ({@link LoraPadding}); a different {@link AdapterBinding} (a new adapter version) is uploaded
 * once and its buffers bound in place of the old ones: no engine rebuild.
 *
 * <p>Owns its device memory, pinned staging buffers and stream, and the engine when opened with
 * {@link #open}. Not thread-safe; one wave at a time.
 */
public final class TensorRtDecoder implements DecoderBackend {
    private static final int PREFILL = 0, DECODE = 1;

    private final TensorRtEngine engine;
    private final boolean ownsEngine;
    private final ModelDescriptor d;
    private final TensorRtSettings s;
    private final Map<String, long[]> loraShapes = new LinkedHashMap<>();
    private Cuda.Stream stream;
    private Cuda.DeviceMemory ids, pos, mask, lastLogits;
    private Cuda.PinnedMemory hIds, hPos, hMask, hLogits;
    private Cuda.DeviceMemory fullLogits;
    private Cuda.PinnedMemory hFullLogits;
    /** [side][2·layer + (0 key, 1 value)] */
    private Cuda.DeviceMemory[][] kv;
    private long kvBytes;
    private int side;
    private Map<String, Cuda.DeviceMemory> adapter;
    private AdapterBinding adapterSource;
    private long adapterVersionUploads;
    private final long[] copies = new long[3]; // H2D, D2H, D2D bytes
    private boolean waveOpen, closed;

    private TensorRtDecoder(TensorRtEngine engine, boolean ownsEngine) {
        this.engine = engine;
        this.ownsEngine = ownsEngine;
        this.d = engine.descriptor();
        this.s = engine.settings();
        for (Map.Entry<String, TensorRtProfiles.Range> e : TensorRtProfiles.profile(TensorRtProfiles.DECODE, d, s).inputs().entrySet()) {
            if (e.getKey().equals(DecoderGraph.LORA_SCALE) || e.getKey().endsWith(".weight")) loraShapes.put(e.getKey(), e.getValue().max());
        }
        long idBytes = 8L * s.maxBatch() * s.maxPrompt(), maskBytes = 8L * s.maxBatch() * s.maxContext();
        long logitBytes = 4L * s.maxBatch() * d.vocabSize();
        List<AutoCloseable> made = new java.util.ArrayList<>();
        try {
            made.add(this.stream = new Cuda.Stream());
            made.add(this.ids = new Cuda.DeviceMemory(idBytes, "input_ids"));
            made.add(this.pos = new Cuda.DeviceMemory(idBytes, "position_ids"));
            made.add(this.mask = new Cuda.DeviceMemory(maskBytes, "attention_mask"));
            made.add(this.lastLogits = new Cuda.DeviceMemory(logitBytes, DecoderGraph.LAST_LOGITS));
            made.add(this.hIds = new Cuda.PinnedMemory(idBytes, "input_ids staging"));
            made.add(this.hPos = new Cuda.PinnedMemory(idBytes, "position_ids staging"));
            made.add(this.hMask = new Cuda.PinnedMemory(maskBytes, "attention_mask staging"));
            made.add(this.hLogits = new Cuda.PinnedMemory(logitBytes, "logits staging"));
            if (!engine.context(DECODE).setOptimizationProfileAsync(DECODE, stream.handle)) {
                throw new IllegalStateException("cannot select the decode profile: " + engine.errors());
            }
            stream.sync("selecting the decode profile");
        } catch (RuntimeException e) {
            for (AutoCloseable c : made.reversed()) {
                try {
                    c.close();
                } catch (Exception ignored) {
                    // already failing
                }
            }
            throw e;
        }
    }

    /** Opens (building or loading from the cache) the sampling engine of an export; the decoder owns it. */
    public static TensorRtDecoder open(java.nio.file.Path exportDir, TensorRtSettings s, EngineCache cache,
                                       java.util.function.Consumer<String> log) throws java.io.IOException {
        TensorRtEngine e = TensorRtEngine.open(exportDir, s, TensorRtEngine.Variant.SAMPLING, cache, log);
        try {
            return new TensorRtDecoder(e, true);
        } catch (RuntimeException x) {
            e.close();
            throw x;
        }
    }

    /** A decoder over an engine the caller owns (e.g. the parity variant). */
    public static TensorRtDecoder over(TensorRtEngine engine) { return new TensorRtDecoder(engine, false); }

    @Override
    public ModelDescriptor descriptor() { return d; }

    @Override
    public String name() { return "tensorrt-" + s.precision().cli(); }

    /** Bytes copied host→device, device→host and device→device so far (the cache never crosses). */
    public long[] copiedBytes() { return copies.clone(); }

    @Override
    public Wave prefill(long[] inIds, long[] inMask, long[] inPos, int batch, int seq, int rowsAfterFanOut, int maxNewTokens,
                        AdapterBinding adapterBinding) {
        ensureOpen();
        if (waveOpen) throw new IllegalStateException("a TensorRT wave is still open; close it first");
        TensorRtProfiles.checkFits(s, Math.max(batch, rowsAfterFanOut), seq, maxNewTokens);
        ensureKv(Math.max(batch, rowsAfterFanOut), 1 + seq + maxNewTokens);
        bindAdapter(adapterBinding);
        runPrefill(inIds, inMask, inPos, batch, seq, false);
        waveOpen = true;
        return new TrtWave(batch, 1 + seq, readLastLogits(batch));
    }

    /** Full [batch, seq, vocab] logits of one pass from an empty cache (parity checks; needs the FULL_LOGITS variant). */
    public float[] forwardFull(long[] inIds, long[] inMask, long[] inPos, int batch, int seq, AdapterBinding adapterBinding) {
        ensureOpen();
        if (engine.variant() != TensorRtEngine.Variant.FULL_LOGITS) {
            throw new IllegalStateException("full logits need an engine built with Variant.FULL_LOGITS");
        }
        TensorRtProfiles.checkFits(s, batch, seq, 0);
        ensureKv(batch, 1 + seq);
        bindAdapter(adapterBinding);
        long bytes = 4L * batch * seq * d.vocabSize();
        if (fullLogits == null || fullLogits.bytes < bytes) {
            if (fullLogits != null) fullLogits.close();
            if (hFullLogits != null) hFullLogits.close();
            fullLogits = new Cuda.DeviceMemory(bytes, DecoderGraph.LOGITS);
            hFullLogits = new Cuda.PinnedMemory(bytes, "logits staging");
        }
        runPrefill(inIds, inMask, inPos, batch, seq, true);
        stream.toHost(hFullLogits, fullLogits, bytes);
        stream.sync("copying logits");
        copies[1] += bytes;
        float[] out = new float[(int) (bytes / 4)];
        MemorySegment.copy(hFullLogits.segment(), ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
        return out;
    }

    private void runPrefill(long[] inIds, long[] inMask, long[] inPos, int batch, int seq, boolean full) {
        if (inIds.length != batch * seq || inPos.length != batch * seq || inMask.length != batch * seq) {
            throw new IllegalArgumentException("prefill expects input_ids, position_ids and attention_mask of " + batch + "×" + seq);
        }
        // the masked first slot: zero K/V, mask 0
        for (Cuda.DeviceMemory t : kv[side]) stream.zero(t, rowBytes(1) * batch);
        upload(hIds, ids, inIds);
        upload(hPos, pos, inPos);
        long[] m = new long[batch * (1 + seq)];
        for (int r = 0; r < batch; r++) System.arraycopy(inMask, r * seq, m, r * (1 + seq) + 1, seq);
        upload(hMask, mask, m);
        run(PREFILL, batch, seq, 1, full);
        side = 1 - side;
    }

    private final class TrtWave implements Wave {
        private int batch;
        private long length; // cached positions, the masked slot included
        private float[] logits;

        TrtWave(int batch, long length, float[] logits) {
            this.batch = batch;
            this.length = length;
            this.logits = logits;
        }

        @Override
        public float[] lastLogits() { return logits; }

        @Override
        public void selectRows(long[] rows) {
            long rb = rowBytes(length);
            if (rows.length * rb > kvBytes) throw new IllegalStateException(rows.length + " rows do not fit the KV buffers");
            for (int t = 0; t < kv[side].length; t++) {
                for (int i = 0; i < rows.length; i++) {
                    if (rows[i] < 0 || rows[i] >= batch) throw new IllegalArgumentException("row " + rows[i] + " outside [0, " + batch + ")");
                    stream.deviceCopy(kv[1 - side][t], i * rb, kv[side][t], rows[i] * rb, rb);
                }
            }
            copies[2] += rows.length * rb * kv[side].length;
            side = 1 - side;
            batch = rows.length;
        }

        @Override
        public float[] step(long[] stepIds, long[] stepMask, long[] stepPos, int b, AdapterBinding adapterBinding) {
            if (b != batch) throw new IllegalArgumentException("step batch " + b + " != cached rows " + batch);
            long realLength = length - 1; // the caller's mask does not know the masked slot
            if (stepIds.length != b || stepPos.length != b || stepMask.length != b * (realLength + 1)) {
                throw new IllegalArgumentException("step expects " + b + " ids and positions and a mask of " + b + "×" + (realLength + 1));
            }
            if (rowBytes(length + 1) * b > kvBytes) {
                throw new IllegalStateException("KV buffers sized for fewer positions than " + (length + 1) + "; pass maxNewTokens to prefill");
            }
            bindAdapter(adapterBinding);
            upload(hIds, ids, stepIds);
            upload(hPos, pos, stepPos);
            int w = (int) (realLength + 1);
            long[] m = new long[(int) (b * (w + 1))];
            for (int r = 0; r < b; r++) System.arraycopy(stepMask, r * w, m, r * (w + 1) + 1, w);
            upload(hMask, mask, m);
            run(DECODE, b, 1, length, false);
            side = 1 - side;
            length++;
            logits = readLastLogits(b);
            return logits;
        }

        @Override
        public void close() { waveOpen = false; }
    }

    /** Binds every input's shape and every tensor's address, then enqueues one pass. */
    private void run(int profile, int batch, int seq, long past, boolean full) {
        IExecutionContext c = engine.context(profile);
        long kvh = d.numKeyValueHeads(), hd = d.headDim();
        shape(c, "input_ids", batch, seq);
        shape(c, "position_ids", batch, seq);
        shape(c, "attention_mask", batch, past + seq);
        address(c, "input_ids", ids);
        address(c, "position_ids", pos);
        address(c, "attention_mask", mask);
        for (int i = 0; i < d.numLayers(); i++) {
            shape(c, DecoderGraph.pastKey(i), batch, kvh, past, hd);
            shape(c, DecoderGraph.pastValue(i), batch, kvh, past, hd);
            address(c, DecoderGraph.pastKey(i), kv[side][2 * i]);
            address(c, DecoderGraph.pastValue(i), kv[side][2 * i + 1]);
            address(c, DecoderGraph.presentKey(i), kv[1 - side][2 * i]);
            address(c, DecoderGraph.presentValue(i), kv[1 - side][2 * i + 1]);
        }
        if (adapter != null) {
            for (Map.Entry<String, Cuda.DeviceMemory> e : adapter.entrySet()) {
                shape(c, e.getKey(), loraShapes.get(e.getKey()));
                address(c, e.getKey(), e.getValue());
            }
        }
        address(c, DecoderGraph.LAST_LOGITS, lastLogits);
        if (full) address(c, DecoderGraph.LOGITS, fullLogits);
        if (!c.enqueueV3(stream.handle)) throw new IllegalStateException("TensorRT enqueueV3 failed: " + engine.errors());
    }

    private static void shape(IExecutionContext c, String name, long... dims) {
        if (!c.setInputShape(name, TensorRtEngine.dims(dims))) {
            throw new IllegalArgumentException("TensorRT refused shape " + java.util.Arrays.toString(dims) + " for input '" + name
                    + "' (outside the engine's profile; see TensorRtSettings)");
        }
    }

    private static void address(IExecutionContext c, String name, Cuda.DeviceMemory m) {
        if (!c.setTensorAddress(name, m.pointer())) throw new IllegalStateException("TensorRT refused the address of tensor '" + name + "'");
    }

    private void upload(Cuda.PinnedMemory staging, Cuda.DeviceMemory dst, long[] v) {
        long bytes = 8L * v.length;
        if (bytes > dst.bytes) throw new IllegalArgumentException(v.length + " values exceed the engine's input buffer (" + dst.bytes / 8 + ")");
        stream.sync("reusing a staging buffer"); // the previous copy from this buffer must be done
        MemorySegment.copy(v, 0, staging.segment(), ValueLayout.JAVA_LONG, 0, v.length);
        stream.toDevice(dst, 0, staging, bytes);
        copies[0] += bytes;
    }

    private float[] readLastLogits(int batch) {
        long bytes = 4L * batch * d.vocabSize();
        stream.toHost(hLogits, lastLogits, bytes);
        stream.sync("copying last_logits");
        copies[1] += bytes;
        float[] out = new float[batch * d.vocabSize()];
        MemorySegment.copy(hLogits.segment(), ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
        return out;
    }

    private long rowBytes(long positions) { return 4L * d.numKeyValueHeads() * positions * d.headDim(); }

    /** Two sets of per-layer K/V buffers for {@code rows} rows of {@code positions} positions; grow-only. */
    private void ensureKv(int rows, long positions) {
        long need = rows * rowBytes(positions);
        if (kv != null && kvBytes >= need) return;
        freeKv();
        Cuda.DeviceMemory[][] sets = new Cuda.DeviceMemory[2][2 * d.numLayers()];
        try {
            for (int sd = 0; sd < 2; sd++) {
                for (int t = 0; t < sets[sd].length; t++) sets[sd][t] = new Cuda.DeviceMemory(need, "KV cache layer " + t / 2);
            }
        } catch (RuntimeException e) {
            for (Cuda.DeviceMemory[] set : sets) for (Cuda.DeviceMemory m : set) if (m != null) m.close();
            throw e;
        }
        kv = sets;
        kvBytes = need;
        side = 0;
    }

    private void freeKv() {
        if (kv == null) return;
        for (Cuda.DeviceMemory[] set : kv) for (Cuda.DeviceMemory m : set) m.close();
        kv = null;
        kvBytes = 0;
    }

    /**
     * Makes {@code binding}'s factors the engine's LoRA inputs: uploaded (zero-padded to the max
     * rank) when it is not the binding already on the device, then bound by address at each pass.
     */
    private void bindAdapter(AdapterBinding binding) {
        if (d.loraTargets().isEmpty()) {
            if (binding != null && binding.rank() > 0) throw new IllegalArgumentException("this export has no LoRA inputs; re-export with --lora-targets");
            return;
        }
        if (binding == null) throw new IllegalArgumentException("an AdapterBinding is required (AdapterBinding.none for the base model)");
        if (binding == adapterSource) return;
        Map<String, OnnxTensor> t = binding.tensors();
        Map<String, Cuda.DeviceMemory> up = new LinkedHashMap<>();
        int maxRank = s.maxRank();
        try {
            up.put(DecoderGraph.LORA_SCALE, uploadFloats(DecoderGraph.LORA_SCALE, values(t, DecoderGraph.LORA_SCALE)));
            for (int layer = 0; layer < d.numLayers(); layer++) {
                for (String target : d.loraTargets()) {
                    int[] dims = TensorRtProfiles.loraDims(d, target);
                    Projection p = Projection.fromModuleName(target);
                    String a = PeftAdapter.tensorName(layer, p, 'A'), b = PeftAdapter.tensorName(layer, p, 'B');
                    int r = binding.rank();
                    up.put(a, uploadFloats(a, LoraPadding.padA(a, values(t, a), r, dims[0], maxRank)));
                    up.put(b, uploadFloats(b, LoraPadding.padB(b, values(t, b), dims[1], r, maxRank)));
                }
            }
            stream.sync("uploading LoRA factors");
        } catch (RuntimeException e) {
            up.values().forEach(Cuda.DeviceMemory::close);
            throw e;
        }
        if (adapter != null) adapter.values().forEach(Cuda.DeviceMemory::close);
        adapter = up;
        adapterSource = binding;
        adapterVersionUploads++;
    }

    /** How many adapter versions were uploaded (each a rebind, never an engine rebuild). */
    public long adapterUploads() { return adapterVersionUploads; }

    private static float[] values(Map<String, OnnxTensor> t, String name) {
        OnnxTensor x = t.get(name);
        if (x == null) throw new IllegalArgumentException("adapter binding has no tensor '" + name + "'");
        FloatBuffer fb = x.getFloatBuffer();
        float[] v = new float[fb.remaining()];
        fb.get(v);
        return v;
    }

    private Cuda.DeviceMemory uploadFloats(String name, float[] v) {
        long bytes = 4L * v.length;
        Cuda.DeviceMemory dst = new Cuda.DeviceMemory(bytes, name);
        try (Cuda.PinnedMemory staging = new Cuda.PinnedMemory(bytes, name + " staging")) {
            MemorySegment.copy(v, 0, staging.segment(), ValueLayout.JAVA_FLOAT, 0, v.length);
            stream.toDevice(dst, 0, staging, bytes);
            stream.sync("uploading " + name); // the staging buffer is freed next
            copies[0] += bytes;
            return dst;
        } catch (RuntimeException e) {
            dst.close();
            throw e;
        }
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("TensorRT decoder is closed");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            stream.sync("closing");
        } catch (RuntimeException ignored) {
            // a failed stream is still freed below
        }
        freeKv();
        if (adapter != null) adapter.values().forEach(Cuda.DeviceMemory::close);
        for (AutoCloseable c : List.<AutoCloseable>of(ids, pos, mask, lastLogits, hIds, hPos, hMask, hLogits)) {
            try {
                c.close();
            } catch (Exception ignored) {
                // freeing the rest matters more
            }
        }
        if (fullLogits != null) fullLogits.close();
        if (hFullLogits != null) hFullLogits.close();
        stream.close();
        if (ownsEngine) engine.close();
    }
}
