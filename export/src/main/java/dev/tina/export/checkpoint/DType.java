package dev.tina.export.checkpoint;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** Element types of safetensors files, with their ONNX TensorProto codes. */
public enum DType {
    F64(8, 11), F32(4, 1), F16(2, 10), BF16(2, 16),
    I64(8, 7), I32(4, 6), I16(2, 5), I8(1, 3), U8(1, 2), BOOL(1, 9);

    private final int byteSize;
    private final int onnxCode;

    DType(int byteSize, int onnxCode) {
        this.byteSize = byteSize;
        this.onnxCode = onnxCode;
    }

    public int byteSize() { return byteSize; }

    /** The ONNX {@code TensorProto.DataType} number. */
    public int onnxCode() { return onnxCode; }

    public boolean isFloating() { return this == F64 || this == F32 || this == F16 || this == BF16; }

    /** Parses a safetensors dtype string ("F32", "BF16", ...). */
    public static DType fromSafetensors(String name, String where) {
        for (DType d : values()) if (d.name().equals(name)) return d;
        throw new CheckpointFormatException(where + ": unknown dtype '" + name + "', expected one of "
                + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", ")));
    }

    /** Parses the user-facing storage dtype names of the command line: fp32, fp16, bf16. */
    public static DType fromCli(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "fp32", "f32", "float32" -> F32;
            case "fp16", "f16", "float16" -> F16;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("unknown dtype '" + s + "', expected one of fp32, fp16, bf16");
        };
    }

    /** The Hugging Face {@code torch_dtype} name. */
    public String torchName() {
        return switch (this) {
            case F32 -> "float32";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            case F64 -> "float64";
            default -> name().toLowerCase(Locale.ROOT);
        };
    }

    /** Appends {@code v} converted to this storage dtype (F32, F16 or BF16), little-endian. */
    public void putFloat(java.nio.ByteBuffer buf, float v) {
        switch (this) {
            case F32 -> buf.putFloat(v);
            case F16 -> buf.putShort(Float.floatToFloat16(v));
            case BF16 -> buf.putShort(floatToBf16(v));
            default -> throw new IllegalArgumentException("not a float storage dtype: " + this + ", expected F32, F16 or BF16");
        }
    }

    /** bfloat16 bits to float: the high half of an IEEE float. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** float to bfloat16 with round-to-nearest-even, as PyTorch does; NaN stays NaN. */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) return (short) ((bits >>> 16) | 0x0040);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
