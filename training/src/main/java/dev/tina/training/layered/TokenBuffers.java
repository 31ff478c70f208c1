package dev.tina.training.layered;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The native buffers of one micro-batch's pass (one confined arena, freed on close) and tensors
 * that view them: ONNX Runtime reads and writes the buffers directly, no copy. A view must be
 * closed before the buffers are.
 */
final class TokenBuffers implements AutoCloseable {
    private final OrtEnvironment env;
    private final Arena arena = Arena.ofConfined();
    private final int headDim;

    TokenBuffers(OrtEnvironment env, int headDim) {
        this.env = env;
        this.headDim = headDim;
    }

    MemorySegment floats(long count) { return arena.allocate(4L * count, 64); }

    /** A native copy of {@code values}. */
    MemorySegment longs(long[] values) {
        MemorySegment seg = arena.allocate(8L * values.length, 8);
        MemorySegment.copy(values, 0, seg, ValueLayout.JAVA_LONG, 0, values.length);
        return seg;
    }

    /** A float tensor of {@code shape} over the segment from float {@code offsetFloats}. */
    OnnxTensor view(MemorySegment seg, long offsetFloats, long... shape) throws OrtException {
        long count = 1;
        for (long d : shape) count *= d;
        ByteBuffer bb = seg.asSlice(4 * offsetFloats, 4 * count).asByteBuffer().order(ByteOrder.nativeOrder());
        return OnnxTensor.createTensor(env, bb, shape, OnnxJavaType.FLOAT);
    }

    /** Tokens [r0, r0 + rows) of a [n × width] buffer, as [rows, width]. */
    OnnxTensor rows(MemorySegment seg, int width, int r0, int rows) throws OrtException {
        return view(seg, (long) r0 * width, rows, width);
    }

    /** Tokens [r0, r0 + rows) of a [n × heads × head dim] buffer, as [rows, heads, head dim]. */
    OnnxTensor headRows(MemorySegment seg, int heads, int r0, int rows) throws OrtException {
        return view(seg, (long) r0 * heads * headDim, rows, heads, headDim);
    }

    /** An int64 tensor of {@code shape} over the segment's longs from {@code offset}. */
    OnnxTensor longView(MemorySegment seg, long offset, long... shape) throws OrtException {
        long count = 1;
        for (long d : shape) count *= d;
        ByteBuffer bb = seg.asSlice(8L * offset, 8L * count).asByteBuffer().order(ByteOrder.nativeOrder());
        return OnnxTensor.createTensor(env, bb, shape, OnnxJavaType.INT64);
    }

    /** dst[dOff + j] += src[sOff + j] for j < count (float offsets). */
    static void addRow(MemorySegment dst, long dOff, MemorySegment src, long sOff, long count) {
        for (long j = 0; j < count; j++) {
            long di = dOff + j;
            dst.setAtIndex(ValueLayout.JAVA_FLOAT, di, dst.getAtIndex(ValueLayout.JAVA_FLOAT, di) + src.getAtIndex(ValueLayout.JAVA_FLOAT, sOff + j));
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
