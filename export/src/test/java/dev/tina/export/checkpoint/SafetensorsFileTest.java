package dev.tina.export.checkpoint;

import dev.tina.testsupport.Shared;

import dev.tina.export.init.RandomCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading, writing and validating safetensors files and Hugging Face checkpoint folders. */
class SafetensorsFileTest {
    static final Path SHARED = Shared.ROOT;
    static final Path FIXTURE_CONFIG = SHARED.resolve("fixtures/qwen2-small/model/config.json");

    // ---- helpers ----------------------------------------------------------------------------

    /** A planned tensor holding the given floats, converted to {@code dtype}. */
    static SafetensorsWriter.Planned floats(String name, DType dtype, long[] shape, float... values) {
        return new SafetensorsWriter.Planned(name, dtype, shape, ch -> {
            ByteBuffer b = ByteBuffer.allocate(values.length * dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : values) dtype.putFloat(b, v);
            b.flip();
            while (b.hasRemaining()) ch.write(b);
        });
    }

    static SafetensorsWriter.Planned longs(String name, long... values) {
        return new SafetensorsWriter.Planned(name, DType.I64, new long[]{values.length}, ch -> {
            ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            for (long v : values) b.putLong(v);
            b.flip();
            while (b.hasRemaining()) ch.write(b);
        });
    }

    /** A file with the given header length field, header text and data bytes, exactly as given (no padding). */
    static Path rawFile(Path file, long headerLen, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLen).put(h);
        Files.write(file, b.array());
        return file;
    }

    /** A well-formed length field for the given header. */
    static Path rawFile(Path file, String header, int dataBytes) throws IOException {
        return rawFile(file, header.getBytes(StandardCharsets.UTF_8).length, header, dataBytes);
    }

    static CheckpointFormatException assertRejected(Path file, String... parts) {
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> SafetensorsFile.open(file).close());
        assertTrue(e.getMessage().contains(file.toString()), "message must name the file: " + e.getMessage());
        for (String p : parts) assertTrue(e.getMessage().contains(p), "expected '" + p + "' in: " + e.getMessage());
        return e;
    }

    static float f16(float v) { return Float.float16ToFloat(Float.floatToFloat16(v)); }

    static float bf16(float v) { return DType.bf16ToFloat(DType.floatToBf16(v)); }

    // ---- valid files ------------------------------------------------------------------------

    @Test
    void validFileOpensAndValuesReadBack(@TempDir Path tmp) throws IOException {
        Path file = tmp.resolve("t.safetensors");
        float[] f32 = {1f, -2.5f, 3.25f, 0f, -0f, 1e-30f};
        float[] f16 = {0.5f, -2f, 65504f, 1f / 3f};
        float[] bf16 = {1f, 1.00390625f, -3.14159f, 1e30f};
        SafetensorsWriter.write(file, Map.of("format", "pt", "note", "hello"), List.of(
                floats("a.f32", DType.F32, new long[]{2, 3}, f32),
                floats("b.f16", DType.F16, new long[]{4}, f16),
                floats("c.bf16", DType.BF16, new long[]{2, 2}, bf16),
                longs("d.i64", 7, -1, Long.MAX_VALUE),
                floats("e.empty", DType.F32, new long[]{0, 5})));

        // The header length is a multiple of 8, as the format asks.
        ByteBuffer len = ByteBuffer.wrap(Files.readAllBytes(file), 0, 8).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0, len.getLong() % 8);

        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertEquals(file, st.path());
            assertEquals(Map.of("format", "pt", "note", "hello"), st.metadata());
            assertEquals(List.of("a.f32", "b.f16", "c.bf16", "d.i64", "e.empty"), new ArrayList<>(st.tensors().keySet()));

            TensorView a = st.tensor("a.f32");
            assertEquals(DType.F32, a.dtype());
            assertArrayEquals(new long[]{2, 3}, a.shape());
            assertEquals(6, a.numel());
            assertArrayEquals(f32, a.toFloatArray());
            assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(a.getFloat(4)));

            TensorView b = st.tensor("b.f16");
            assertEquals(DType.F16, b.dtype());
            assertEquals(8, b.data().byteSize());
            assertEquals(0.5f, b.getFloat(0));
            assertEquals(-2f, b.getFloat(1));
            assertEquals(65504f, b.getFloat(2));
            assertEquals(f16(1f / 3f), b.getFloat(3));
            assertEquals(1f / 3f, b.getFloat(3), 1e-3f);

            TensorView c = st.tensor("c.bf16");
            assertEquals(DType.BF16, c.dtype());
            assertArrayEquals(new long[]{2, 2}, c.shape());
            assertEquals(1f, c.getFloat(0));
            assertEquals(1f, c.getFloat(1)); // 1 + 2^-8 is a tie, rounded to the even 1.0
            assertEquals(bf16(-3.14159f), c.getFloat(2));
            assertEquals(-3.140625f, c.getFloat(2));
            assertEquals(bf16(1e30f), c.getFloat(3));
            assertEquals(1e30f, c.getFloat(3), 1e30f / 128);

            TensorView d = st.tensor("d.i64");
            assertArrayEquals(new long[]{7, -1, Long.MAX_VALUE}, d.toLongArray());
            CheckpointFormatException notFloat = assertThrows(CheckpointFormatException.class, () -> d.getFloat(0));
            assertTrue(notFloat.getMessage().contains("'d.i64'"), notFloat.getMessage());

            TensorView e = st.tensor("e.empty");
            assertEquals(0, e.numel());
            assertEquals(0, e.data().byteSize());

            CheckpointFormatException missing = assertThrows(CheckpointFormatException.class, () -> st.tensor("nope"));
            assertTrue(missing.getMessage().contains(file.toString()) && missing.getMessage().contains("'nope'"), missing.getMessage());
        }
    }

    @Test
    void writeAsConvertsBetweenFloatDtypes(@TempDir Path tmp) throws IOException {
        Path file = tmp.resolve("t.safetensors");
        float[] v = {1f, 1.00390625f, 1.01171875f, -0.1f, 1000f};
        SafetensorsWriter.write(file, null, List.of(floats("x", DType.F32, new long[]{v.length}, v)));
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertTrue(st.metadata().isEmpty());
            TensorView x = st.tensor("x");
            for (DType target : List.of(DType.F32, DType.F16, DType.BF16)) {
                var bytes = new java.io.ByteArrayOutputStream();
                x.writeAs(target, java.nio.channels.Channels.newChannel(bytes));
                ByteBuffer b = ByteBuffer.wrap(bytes.toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
                assertEquals(v.length * target.byteSize(), b.remaining(), target.toString());
                for (float f : v) {
                    float got = switch (target) {
                        case F32 -> b.getFloat();
                        case F16 -> Float.float16ToFloat(b.getShort());
                        default -> DType.bf16ToFloat(b.getShort());
                    };
                    float want = switch (target) {
                        case F32 -> f;
                        case F16 -> f16(f);
                        default -> bf16(f);
                    };
                    assertEquals(want, got, target + " of " + f);
                }
            }
        }
    }

    @Test
    void floatToBf16RoundsToNearestEven() {
        assertEquals((short) 0x3F80, DType.floatToBf16(1.0f));
        assertEquals((short) 0xBF80, DType.floatToBf16(-1.0f));
        assertEquals((short) 0x0000, DType.floatToBf16(0.0f));
        assertEquals((short) 0x8000, DType.floatToBf16(-0.0f));
        // 1 + 2^-8 lies halfway between 1 (0x3F80, even) and 1 + 2^-7 (0x3F81): ties go to even.
        assertEquals(Float.intBitsToFloat(0x3F808000), 1.00390625f);
        assertEquals((short) 0x3F80, DType.floatToBf16(1.00390625f));
        // 1 + 3·2^-8 lies halfway between 0x3F81 (odd) and 0x3F82 (even): up to even.
        assertEquals((short) 0x3F82, DType.floatToBf16(1.01171875f));
        // Just past and just short of the tie.
        assertEquals((short) 0x3F81, DType.floatToBf16(Float.intBitsToFloat(0x3F808001)));
        assertEquals((short) 0x3F80, DType.floatToBf16(Float.intBitsToFloat(0x3F807FFF)));
        assertEquals((short) 0xBF80, DType.floatToBf16(-1.00390625f));
        // Infinities stay, the largest float rounds up to infinity (as PyTorch does).
        assertEquals((short) 0x7F80, DType.floatToBf16(Float.POSITIVE_INFINITY));
        assertEquals((short) 0xFF80, DType.floatToBf16(Float.NEGATIVE_INFINITY));
        assertEquals((short) 0x7F80, DType.floatToBf16(Float.MAX_VALUE));
        // NaN stays NaN, including a NaN whose payload lies only in the dropped low half.
        assertTrue(Float.isNaN(bf16(Float.NaN)));
        assertTrue(Float.isNaN(bf16(Float.intBitsToFloat(0x7F800001))));
        assertTrue(Float.isNaN(bf16(Float.intBitsToFloat(0xFF800001))));
        assertTrue(Float.isNaN(bf16(Float.intBitsToFloat(0x7FFFFFFF))));
        // bf16 → float is exact.
        for (int bits : new int[]{0x3F80, 0x3F81, 0xC049, 0x0001, 0x7F7F}) {
            assertEquals(bits, DType.floatToBf16(DType.bf16ToFloat((short) bits)) & 0xFFFF);
        }
    }

    // ---- checkpoints ------------------------------------------------------------------------

    @Test
    void shardedCheckpointEqualsSingleFileCheckpoint(@TempDir Path tmp) throws IOException {
        ModelConfig config = ModelConfig.read(FIXTURE_CONFIG);
        Path single = Files.createDirectories(tmp.resolve("single"));
        Path sharded = Files.createDirectories(tmp.resolve("sharded"));
        Files.copy(FIXTURE_CONFIG, single.resolve("config.json"));
        Files.copy(FIXTURE_CONFIG, sharded.resolve("config.json"));
        SafetensorsWriter.writeCheckpoint(single, RandomCheckpoint.plan(config, DType.BF16, 0.02, 1), 1);
        SafetensorsWriter.writeCheckpoint(sharded, RandomCheckpoint.plan(config, DType.BF16, 0.02, 1), 3);

        assertEquals(List.of(single.resolve("model.safetensors")), HfCheckpoint.weightFiles(single));
        assertTrue(Files.isRegularFile(sharded.resolve("model.safetensors.index.json")));
        assertEquals(List.of(sharded.resolve("model-00001-of-00003.safetensors"), sharded.resolve("model-00002-of-00003.safetensors"),
                sharded.resolve("model-00003-of-00003.safetensors")), HfCheckpoint.weightFiles(sharded));

        try (HfCheckpoint a = HfCheckpoint.open(single); HfCheckpoint b = HfCheckpoint.open(sharded)) {
            assertEquals(a.config(), b.config());
            assertEquals(RandomCheckpoint.plan(config, DType.BF16, 0.02, 1).size(), a.tensors().size());
            assertEquals(a.tensors().keySet(), b.tensors().keySet());
            Set<String> shardFiles = new HashSet<>();
            for (String name : a.tensors().keySet()) {
                TensorView x = a.tensors().get(name), y = b.tensors().get(name);
                assertEquals(DType.BF16, y.dtype(), name);
                assertArrayEquals(x.shape(), y.shape(), name);
                assertEquals(-1, x.data().mismatch(y.data()), name + " differs between the single file and the shards");
                shardFiles.add(y.file());
            }
            assertEquals(3, shardFiles.size(), "every shard holds tensors");

            // Shapes are checked against config.json on access.
            long h = config.hiddenSize(), v = config.vocabSize();
            assertEquals(DType.BF16, b.tensor("model.embed_tokens.weight", v, h).dtype());
            CheckpointFormatException wrongShape = assertThrows(CheckpointFormatException.class,
                    () -> b.tensor("model.embed_tokens.weight", v + 1, h));
            assertTrue(wrongShape.getMessage().contains("'model.embed_tokens.weight'")
                    && wrongShape.getMessage().contains(b.tensors().get("model.embed_tokens.weight").file()), wrongShape.getMessage());
            CheckpointFormatException missing = assertThrows(CheckpointFormatException.class, () -> b.tensor("model.nope.weight", 1));
            assertTrue(missing.getMessage().contains("'model.nope.weight'"), missing.getMessage());
        }
    }

    @Test
    void shardIndexNamingAMissingShardIsRejected(@TempDir Path tmp) throws IOException {
        ModelConfig config = ModelConfig.read(FIXTURE_CONFIG);
        Files.copy(FIXTURE_CONFIG, tmp.resolve("config.json"));
        SafetensorsWriter.writeCheckpoint(tmp, RandomCheckpoint.plan(config, DType.F32, 0.02, 1), 3);
        Files.delete(tmp.resolve("model-00002-of-00003.safetensors"));
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> HfCheckpoint.open(tmp).close());
        assertTrue(e.getMessage().contains("model.safetensors.index.json") && e.getMessage().contains("model-00002-of-00003.safetensors"),
                e.getMessage());
    }

    @Test
    void tensorInTwoShardsIsRejected(@TempDir Path tmp) throws IOException {
        Files.copy(FIXTURE_CONFIG, tmp.resolve("config.json"));
        SafetensorsWriter.write(tmp.resolve("a.safetensors"), null, List.of(floats("w", DType.F32, new long[]{1}, 1f)));
        SafetensorsWriter.write(tmp.resolve("b.safetensors"), null, List.of(floats("w", DType.F32, new long[]{1}, 2f)));
        Files.writeString(tmp.resolve("model.safetensors.index.json"), "{\"weight_map\":{\"w\":\"a.safetensors\",\"x\":\"b.safetensors\"}}");
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> HfCheckpoint.open(tmp).close());
        assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("a.safetensors") && e.getMessage().contains("b.safetensors"),
                e.getMessage());
    }

    @Test
    void folderWithoutWeightsIsRejected(@TempDir Path tmp) throws IOException {
        Files.copy(FIXTURE_CONFIG, tmp.resolve("config.json"));
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> HfCheckpoint.open(tmp).close());
        assertTrue(e.getMessage().contains(tmp.toString()) && e.getMessage().contains("model.safetensors"), e.getMessage());
    }

    // ---- malformed files --------------------------------------------------------------------

    @Test
    void headerLengthLargerThanTheFile(@TempDir Path tmp) throws IOException {
        assertRejected(rawFile(tmp.resolve("long.safetensors"), 1000, "{}", 0), "header length 1000", "10 bytes");
        // Garbage lengths: past the format's 100 MB limit, and negative as a signed 64-bit number.
        assertRejected(rawFile(tmp.resolve("huge.safetensors"), 1L << 40, "{}", 0), "header length");
        assertRejected(rawFile(tmp.resolve("neg.safetensors"), -8, "{}", 0), "header length");
    }

    @Test
    void fileShorterThanTheLengthField(@TempDir Path tmp) throws IOException {
        Path file = Files.write(tmp.resolve("short.safetensors"), new byte[]{1, 2, 3});
        assertRejected(file, "truncated");
    }

    @Test
    void headerNotJson(@TempDir Path tmp) throws IOException {
        assertRejected(rawFile(tmp.resolve("garbage.safetensors"), "{\"a\": {\"dtype\": ", 0), "not valid JSON");
        assertRejected(rawFile(tmp.resolve("text.safetensors"), "hello, world", 0), "not valid JSON");
        assertRejected(rawFile(tmp.resolve("array.safetensors"), "[1, 2, 3]   ", 0), "not a JSON object");
    }

    @Test
    void negativeDimension(@TempDir Path tmp) throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,3],\"data_offsets\":[0,24]}}";
        assertRejected(rawFile(tmp.resolve("neg.safetensors"), header, 24), "'w'", "[-2,3]");
    }

    @Test
    void headerEntryMissingAField(@TempDir Path tmp) throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}";
        assertRejected(rawFile(tmp.resolve("noshape.safetensors"), header, 4), "'w'", "shape");
    }

    @Test
    void unknownDtype(@TempDir Path tmp) throws IOException {
        String header = "{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,1]}}";
        assertRejected(rawFile(tmp.resolve("q4.safetensors"), header, 1), "'w'", "'Q4'", "BF16");
    }

    @Test
    void dataOffsetsPastTheEnd(@TempDir Path tmp) throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
        assertRejected(rawFile(tmp.resolve("past.safetensors"), header, 12), "'w'", "data_offsets", "12 bytes");
    }

    @Test
    void dataOffsetsBackwards(@TempDir Path tmp) throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}";
        assertRejected(rawFile(tmp.resolve("back.safetensors"), header, 8), "'w'", "data_offsets");
    }

    @Test
    void byteRangeDisagreesWithShapeAndDtype(@TempDir Path tmp) throws IOException {
        String header = "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";
        assertRejected(rawFile(tmp.resolve("size.safetensors"), header, 24), "'w'", "24 bytes", "needs 12");
    }

    @Test
    void shapeWhoseSizeOverflows(@TempDir Path tmp) throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}";
        assertRejected(rawFile(tmp.resolve("overflow.safetensors"), header, 4), "'w'", "overflows");
    }

    @Test
    void overlappingTensors(@TempDir Path tmp) throws IOException {
        String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
        assertRejected(rawFile(tmp.resolve("overlap.safetensors"), header, 16), "'a'", "'b'", "overlap");
        String same = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        assertRejected(rawFile(tmp.resolve("same.safetensors"), same, 8), "'a'", "'b'", "overlap");
    }

    @Test
    void adjacentTensorsDoNotOverlap(@TempDir Path tmp) throws IOException {
        // Listed out of order in the header, touching but not overlapping; an empty tensor between.
        String header = "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        try (SafetensorsFile st = SafetensorsFile.open(rawFile(tmp.resolve("ok.safetensors"), header, 8))) {
            assertEquals(Set.of("a", "b", "e"), st.tensors().keySet());
        }
    }

    @Test
    void overlapHiddenBehindAnEmptyTensorIsFound(@TempDir Path tmp) throws IOException {
        String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                + "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
        assertRejected(rawFile(tmp.resolve("hidden.safetensors"), header, 16), "'a'", "'c'", "overlap");
        // contained in an earlier, longer range that is not the adjacent one
        String nested = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
        assertRejected(rawFile(tmp.resolve("nested.safetensors"), nested, 16), "overlap");
    }

    @Test
    void shapesAndOffsetsMustBeArraysOfIntegers(@TempDir Path tmp) throws IOException {
        String fractional = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}";
        assertRejected(rawFile(tmp.resolve("frac.safetensors"), fractional, 8), "'w'", "shape");
        String text = "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}";
        assertRejected(rawFile(tmp.resolve("text.safetensors"), text, 8), "'w'", "shape");
        String scalar = "{\"w\":{\"dtype\":\"F32\",\"shape\":7,\"data_offsets\":[0,4]}}";
        assertRejected(rawFile(tmp.resolve("scalar.safetensors"), scalar, 4), "'w'", "shape");
        String offsets = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}";
        assertRejected(rawFile(tmp.resolve("offsets.safetensors"), offsets, 4), "'w'", "data_offsets");
    }

    @Test
    void configTypeErrorsNameTheField(@TempDir Path tmp) throws IOException {
        String cfg = Files.readString(FIXTURE_CONFIG);
        Path text = tmp.resolve("text.json");
        Files.writeString(text, cfg.replace("\"hidden_size\": 32", "\"hidden_size\": \"abc\""));
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> ModelConfig.read(text));
        assertTrue(e.getMessage().contains(text.toString()) && e.getMessage().contains("'hidden_size'"), e.getMessage());
        Path fraction = tmp.resolve("fraction.json");
        Files.writeString(fraction, cfg.replace("\"vocab_size\": 96", "\"vocab_size\": 96.5"));
        e = assertThrows(CheckpointFormatException.class, () -> ModelConfig.read(fraction));
        assertTrue(e.getMessage().contains("'vocab_size'"), e.getMessage());
    }
}
