package dev.tina.runtime.sampling;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.tina.export.ModelDescriptor;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.OrtDecoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The CPU engine over the export's in-place graph ({@link OrtDecoder.Graph#IN_PLACE}): each layer's
 * K and V cache is one direct buffer [slots, kv_heads, max_length, head_dim] that this class
 * owns. The same ONNX Runtime tensor over it is bound as the past input and as the pinned present
 * output, so GroupQueryAttention writes each new token at its row's offset and copies nothing
 * else; a prefill runs on a one-slot view of the same buffers. Does not own the decoder.
 */
public final class InPlaceBackend implements SlotBackend {
    private final OrtDecoder decoder;
    /** The session to run, or null for the decoder's own in-place graph. */
    private final OrtSession session;

    public InPlaceBackend(OrtDecoder decoder) {
        this(decoder, null);
    }

    /**
     * Over {@code session}, a variant of the in-place graph with the same inputs and outputs (a
     * server's graph with a per-row LoRA scale); the caller owns it and closes it after this engine.
     */
    public InPlaceBackend(OrtDecoder decoder, OrtSession session) {
        this.decoder = decoder;
        this.session = session;
    }

    @Override
    public ModelDescriptor descriptor() { return decoder.descriptor(); }

    @Override
    public String name() { return "onnxruntime-cpu-kv-in-place"; }

    @Override
    public Slots open(int slots, int maxLength) throws OrtException {
        return new InPlaceSlots(session != null ? session : decoder.session(OrtDecoder.Graph.IN_PLACE), slots, maxLength);
    }

    @Override
    public void close() { }

    private final class InPlaceSlots implements Slots {
        private final OrtSession session;
        private final OrtEnvironment env;
        private final ModelDescriptor d;
        private final int capacity, maxLength, layers;
        /** Floats per slot in one buffer; floats per (slot, head) row. */
        private final long slotFloats, headFloats;
        private final ByteBuffer[] keys, values;
        private final MemorySegment[] keySeg, valueSeg;
        /** Views by (first slot, count), least recently used first; bounded, since a server steps many ranges. */
        private final LinkedHashMap<Long, OnnxTensor[]> views = new LinkedHashMap<>(16, 0.75f, true);
        private final Arena arena = Arena.ofShared();
        /**
         * The logits output, [capacity, vocab], bound as a pinned output so that ONNX Runtime writes
         * straight into it (its own output would be a fresh native allocation, then a fresh heap
         * copy, every step); one tensor view per row count.
         */
        private final MemorySegment logitsSeg;
        private final OnnxTensor[] logitViews;
        /** The logits {@link #step} and {@link #prefill} return: overwritten by the next call while the row count stays the same. */
        private float[] logits = new float[0];
        private boolean closed;

        InPlaceSlots(OrtSession session, int capacity, int maxLength) {
            if (capacity < 1 || maxLength < 2) throw new IllegalArgumentException("need >= 1 slot of >= 2 positions, got " + capacity + " × " + maxLength);
            this.session = session;
            this.env = decoder.environment();
            this.d = decoder.descriptor();
            this.capacity = capacity;
            this.maxLength = maxLength;
            this.layers = d.numLayers();
            this.headFloats = (long) maxLength * d.headDim();
            this.slotFloats = d.numKeyValueHeads() * headFloats;
            long bytes = 4L * capacity * slotFloats;
            if (bytes > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("KV cache of " + capacity + " rows × " + maxLength + " positions needs " + bytes
                        + " bytes per layer buffer, over ONNX Runtime's 2 GiB per tensor: use fewer rows or new tokens");
            }
            keys = new ByteBuffer[layers];
            values = new ByteBuffer[layers];
            logitViews = new OnnxTensor[capacity + 1];
            keySeg = new MemorySegment[layers];
            valueSeg = new MemorySegment[layers];
            // Arena memory, freed when the slots close (direct ByteBuffers wait for the GC and
            // count against -XX:MaxDirectMemorySize, a quarter of RAM by default)
            try {
                logitsSeg = arena.allocate(4L * capacity * d.vocabSize(), 64);
                for (int i = 0; i < layers; i++) {
                    keySeg[i] = arena.allocate(bytes, 64);
                    valueSeg[i] = arena.allocate(bytes, 64);
                    keys[i] = keySeg[i].asByteBuffer().order(ByteOrder.nativeOrder());
                    values[i] = valueSeg[i].asByteBuffer().order(ByteOrder.nativeOrder());
                }
            } catch (RuntimeException | OutOfMemoryError e) {
                arena.close();
                throw e;
            }
        }

        @Override
        public int capacity() { return capacity; }

        @Override
        public int maxLength() { return maxLength; }

        /** Tensors over slots [first, first + count) of every buffer: keys then values, per layer. */
        private OnnxTensor[] view(int first, int count) throws OrtException {
            OnnxTensor[] t = new OnnxTensor[2 * layers];
            long[] shape = {count, d.numKeyValueHeads(), maxLength, d.headDim()};
            int from = (int) (4 * first * slotFloats), len = (int) (4 * count * slotFloats);
            try {
                for (int i = 0; i < layers; i++) {
                    t[2 * i] = OnnxTensor.createTensor(env, keys[i].slice(from, len).order(ByteOrder.nativeOrder()), shape, OnnxJavaType.FLOAT);
                    t[2 * i + 1] = OnnxTensor.createTensor(env, values[i].slice(from, len).order(ByteOrder.nativeOrder()), shape, OnnxJavaType.FLOAT);
                }
            } catch (OrtException | RuntimeException e) {
                closeAll(t);
                throw e;
            }
            return t;
        }

        /** The view of slots [first, first + count), kept for reuse (at most 256 ranges, the least recently used closed). */
        private OnnxTensor[] rangeView(int first, int count) throws OrtException {
            long key = ((long) first << 32) | count;
            OnnxTensor[] v = views.get(key);
            if (v == null) {
                v = view(first, count);
                views.put(key, v);
                if (views.size() > 256) {
                    var eldest = views.entrySet().iterator();
                    closeAll(eldest.next().getValue());
                    eldest.remove();
                }
            }
            return v;
        }

        /** Runs the graph; returns the [batch, vocab] logits in the pinned output buffer. */
        private MemorySegment run(OnnxTensor[] cache, long[] ids, long[] pos, int[] seqlensK, int total, int batch, int seq,
                                  AdapterBinding adapter) throws OrtException {
            ensureOpen();
            List<OnnxTensor> made = new ArrayList<>(4);
            try {
                OnnxTensor idT = OnnxTensor.createTensor(env, direct(ids), new long[]{batch, seq});
                made.add(idT);
                OnnxTensor posT = OnnxTensor.createTensor(env, direct(pos), new long[]{batch, seq});
                made.add(posT);
                OnnxTensor lens = OnnxTensor.createTensor(env, directInts(seqlensK), new long[]{batch});
                made.add(lens);
                OnnxTensor totalT = OnnxTensor.createTensor(env, directInts(new int[]{total}), new long[0]);
                made.add(totalT);
                Map<String, OnnxTensor> in = new LinkedHashMap<>();
                in.put("input_ids", idT);
                in.put("position_ids", posT);
                in.put(DecoderGraph.SEQLENS_K, lens);
                in.put(DecoderGraph.TOTAL_SEQUENCE_LENGTH, totalT);
                Map<String, OnnxTensor> pinned = new LinkedHashMap<>();
                for (int i = 0; i < layers; i++) {
                    in.put(DecoderGraph.pastKey(i), cache[2 * i]);
                    in.put(DecoderGraph.pastValue(i), cache[2 * i + 1]);
                    pinned.put(DecoderGraph.presentKey(i), cache[2 * i]);
                    pinned.put(DecoderGraph.presentValue(i), cache[2 * i + 1]);
                }
                adapter.addInputs(in, d);
                pinned.put(DecoderGraph.LAST_LOGITS, logitView(batch));
                try (OrtSession.Result r = session.run(in, Set.of(), pinned)) {
                    return logitsSeg.asSlice(0, 4L * batch * d.vocabSize());
                }
            } finally {
                closeAll(made.toArray(OnnxTensor[]::new));
            }
        }

        /** A [rows, vocab] tensor over the start of the logits buffer. */
        private OnnxTensor logitView(int rows) throws OrtException {
            if (logitViews[rows] == null) {
                ByteBuffer b = logitsSeg.asSlice(0, 4L * rows * d.vocabSize()).asByteBuffer().order(ByteOrder.nativeOrder());
                logitViews[rows] = OnnxTensor.createTensor(env, b.asFloatBuffer(), new long[]{rows, d.vocabSize()});
            }
            return logitViews[rows];
        }

        @Override
        public float[] prefill(int slot, long[] prompt, AdapterBinding adapter) throws OrtException {
            return toHeap(prefillLogits(slot, prompt, adapter));
        }

        /** The heap copy {@link #prefill} and {@link #step} return (the sampler reads the buffer itself). */
        private float[] toHeap(MemorySegment out) {
            int n = (int) (out.byteSize() / Float.BYTES);
            if (logits.length != n) logits = new float[n];
            MemorySegment.copy(out, ValueLayout.JAVA_FLOAT, 0, logits, 0, n);
            return logits;
        }

        @Override
        public MemorySegment prefillLogits(int slot, long[] prompt, AdapterBinding adapter) throws OrtException {
            return prefillLogits(slot, List.of(prompt), adapter);
        }

        @Override
        public MemorySegment prefillLogits(int first, List<long[]> prompts, AdapterBinding adapter) throws OrtException {
            int count = prompts.size();
            if (count < 1) throw new IllegalArgumentException("no prompts to prefill");
            checkSlot(first, "prefill");
            checkSlot(first + count - 1, "prefill");
            int width = 0;
            for (long[] p : prompts) {
                if (p.length == 0) throw new IllegalArgumentException("empty prompt");
                if (p.length > maxLength) throw new IllegalArgumentException("prompt of " + p.length + " tokens > cache length " + maxLength);
                width = Math.max(width, p.length);
            }
            // one prompt: a first prompt for GroupQueryAttention (sequence length = total_sequence_length);
            // several, right-padded: GroupQueryAttention reads each row's own seqlens_k + 1 positions, the head
            // gathers each row at its seqlens_k; the padding's keys land past the row's end, where the
            // next step writes before anything reads
            long[] ids = new long[count * width], pos = new long[count * width];
            int[] lens = new int[count];
            for (int j = 0; j < count; j++) {
                long[] p = prompts.get(j);
                System.arraycopy(p, 0, ids, j * width, p.length);
                for (int t = 0; t < width; t++) pos[j * width + t] = t;
                lens[j] = p.length - 1;
            }
            return run(rangeView(first, count), ids, pos, lens, width, count, width, adapter);
        }

        @Override
        public void copy(int from, int to, int length) {
            ensureOpen();
            checkSlot(from, "copy from");
            checkSlot(to, "copy to");
            if (length < 0 || length > maxLength) throw new IllegalArgumentException("copy length " + length + " outside [0, " + maxLength + "]");
            if (from == to || length == 0) return;
            long bytes = 4L * length * d.headDim();
            for (int i = 0; i < layers; i++) {
                for (int h = 0; h < d.numKeyValueHeads(); h++) {
                    long src = 4 * (from * slotFloats + h * headFloats), dst = 4 * (to * slotFloats + h * headFloats);
                    MemorySegment.copy(keySeg[i], src, keySeg[i], dst, bytes);
                    MemorySegment.copy(valueSeg[i], src, valueSeg[i], dst, bytes);
                }
            }
        }

        @Override
        public float[] step(int active, long[] ids, int[] cached, AdapterBinding adapter) throws OrtException {
            return toHeap(stepLogits(0, active, ids, cached, adapter));
        }

        @Override
        public MemorySegment stepLogits(int active, long[] ids, int[] cached, AdapterBinding adapter) throws OrtException {
            return stepLogits(0, active, ids, cached, adapter);
        }

        @Override
        public float[] step(int first, int active, long[] ids, int[] cached, AdapterBinding adapter) throws OrtException {
            return toHeap(stepLogits(first, active, ids, cached, adapter));
        }

        private MemorySegment stepLogits(int first, int active, long[] ids, int[] cached, AdapterBinding adapter) throws OrtException {
            if (first < 0 || active < 1 || first + active > capacity) {
                throw new IllegalArgumentException("rows [" + first + ", " + (first + active) + ") outside [0, " + capacity + ")");
            }
            if (ids.length < active || cached.length < active) throw new IllegalArgumentException("ids/cached shorter than the " + active + " active rows");
            long[] id = java.util.Arrays.copyOf(ids, active), pos = new long[active];
            int[] lens = new int[active];
            for (int r = 0; r < active; r++) {
                if (cached[r] < 1 || cached[r] >= maxLength) {
                    throw new IllegalArgumentException("row " + r + ": " + cached[r] + " cached tokens, the cache holds " + maxLength);
                }
                pos[r] = cached[r];
                lens[r] = cached[r]; // tokens after this step − 1
            }
            // total_sequence_length > 1 marks a decode step (1 would read as a one-token first prompt)
            return run(rangeView(first, active), id, pos, lens, maxLength, active, 1, adapter);
        }

        private void checkSlot(int slot, String what) {
            if (slot < 0 || slot >= capacity) throw new IllegalArgumentException(what + ": slot " + slot + " outside [0, " + capacity + ")");
        }

        private void ensureOpen() {
            if (closed) throw new IllegalStateException("KV cache slots are closed");
        }

        @Override
        public void close() {
            if (closed) return;
            closed = true;
            for (OnnxTensor[] v : views.values()) closeAll(v);
            views.clear();
            closeAll(logitViews);
            arena.close();
        }
    }

    private static void closeAll(OnnxTensor[] tensors) {
        for (OnnxTensor t : tensors) if (t != null) t.close();
    }

    private static LongBuffer direct(long[] v) {
        LongBuffer b = ByteBuffer.allocateDirect(v.length * Long.BYTES).order(ByteOrder.nativeOrder()).asLongBuffer();
        b.put(v).flip();
        return b;
    }

    private static IntBuffer directInts(int[] v) {
        IntBuffer b = ByteBuffer.allocateDirect(Math.max(1, v.length) * Integer.BYTES).order(ByteOrder.nativeOrder()).asIntBuffer();
        b.put(v).flip();
        return b;
    }
}
