package dev.tina.export.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.util.Arrays;

/**
 * One tensor of a memory-mapped safetensors file: a view, never a copy. Valid while the file that
 * produced it is open.
 */
public record TensorView(String name, DType dtype, long[] shape, MemorySegment data, String file) {

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final int CHUNK_ELEMENTS = 1 << 20;

    public long numel() { return numel(shape); }

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    /** Element {@code i} as a float (floating dtypes only). */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.getAtIndex(F32, i);
            case F16 -> Float.float16ToFloat(data.getAtIndex(I16, i));
            case BF16 -> DType.bf16ToFloat(data.getAtIndex(I16, i));
            case F64 -> (float) data.getAtIndex(F64, i);
            default -> throw notFloating();
        };
    }

    public double getDouble(long i) {
        return dtype == DType.F64 ? data.getAtIndex(F64, i) : getFloat(i);
    }

    public long getLong(long i) {
        return switch (dtype) {
            case I64 -> data.getAtIndex(I64, i);
            case I32 -> data.getAtIndex(I32, i);
            default -> throw new CheckpointFormatException(file + ": tensor '" + name + "' is " + dtype + ", expected I64 or I32");
        };
    }

    /** The whole tensor as floats on the heap; for small tensors (adapters, test cases) only. */
    public float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new CheckpointFormatException(file + ": tensor '" + name + "' is too large to copy onto the heap");
        float[] out = new float[(int) n];
        for (int i = 0; i < out.length; i++) out[i] = getFloat(i);
        return out;
    }

    public long[] toLongArray() {
        long[] out = new long[Math.toIntExact(numel())];
        for (int i = 0; i < out.length; i++) out[i] = getLong(i);
        return out;
    }

    /**
     * Streams the tensor to {@code out} in dtype {@code target}, converting in fixed-size chunks
     * through one reused buffer, so that a multi-GB tensor never lands on the heap.
     */
    public void writeAs(DType target, WritableByteChannel out) throws IOException {
        if (target == dtype) {
            writeFully(out, data.asByteBuffer());
            return;
        }
        if (!dtype.isFloating() || !target.isFloating() || target == DType.F64) {
            throw new CheckpointFormatException(file + ": cannot convert tensor '" + name + "' from " + dtype + " to " + target);
        }
        long n = numel();
        // A confined arena frees the chunk buffer when this tensor is done; direct ByteBuffers
        // would wait for the GC and pile up over the hundreds of tensors of a large model.
        try (Arena arena = Arena.ofConfined()) {
            ByteBuffer buf = arena.allocate(Math.min(n, CHUNK_ELEMENTS) * target.byteSize()).asByteBuffer()
                    .order(ByteOrder.LITTLE_ENDIAN);
            for (long start = 0; start < n; start += CHUNK_ELEMENTS) {
                long end = Math.min(n, start + CHUNK_ELEMENTS);
                buf.clear();
                for (long i = start; i < end; i++) target.putFloat(buf, getFloat(i));
                buf.flip();
                writeFully(out, buf);
            }
        }
    }

    static void writeFully(WritableByteChannel out, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) out.write(buf);
    }

    private CheckpointFormatException notFloating() {
        return new CheckpointFormatException(file + ": tensor '" + name + "' is " + dtype + ", expected a floating-point dtype");
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " (" + file + ")";
    }
}
