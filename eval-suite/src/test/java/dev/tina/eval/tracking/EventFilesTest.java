package dev.tina.eval.tracking;

import dev.tina.eval.tracking.proto.TensorBoardProtos.DataClass;
import dev.tina.eval.tracking.proto.TensorBoardProtos.DataType;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Event;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Summary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Event files read back by a reader written here from the format's description (TFRecord framing, masked
 * CRC32C computed bit by bit), not by the code under test; corruption is detected; a resumed run's trim.
 */
class EventFilesTest {

    /** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one bit at a time. */
    static int crc32c(byte[] b, int off, int len) {
        int crc = 0xFFFFFFFF;
        for (int i = off; i < off + len; i++) {
            crc ^= b[i] & 0xFF;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >>> 1) ^ 0x82F63B78 : crc >>> 1;
        }
        return ~crc;
    }

    static int masked(byte[] b, int off, int len) {
        int crc = crc32c(b, off, len);
        return ((crc >>> 15) | (crc << 17)) + 0xa282ead8;
    }

    /** The records of a TFRecord file; any framing or CRC problem throws, naming the record's offset. */
    static List<Event> readIndependently(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        List<Event> out = new ArrayList<>();
        while (b.hasRemaining()) {
            int at = b.position();
            if (b.remaining() < 12) throw new IOException("torn header at " + at);
            long len = b.getLong();
            if (b.getInt() != masked(all, at, 8)) throw new IOException("length crc at " + at);
            if (len > b.remaining() - 4) throw new IOException("torn data at " + at);
            int start = b.position();
            b.position(start + (int) len);
            if (b.getInt() != masked(all, start, (int) len)) throw new IOException("data crc at " + at);
            out.add(Event.parseFrom(ByteBuffer.wrap(all, start, (int) len)));
        }
        return out;
    }

    @Test
    void crcMatchesTheCastagnoliCheckValue() {
        byte[] check = "123456789".getBytes(StandardCharsets.US_ASCII);
        assertEquals(0xE3069283, crc32c(check, 0, check.length));
        assertEquals(masked(check, 0, check.length), TfRecords.maskedCrc32c(check, 0, check.length));
    }

    @Test
    void theMaskedCrcOfARealTensorFlowRecordMatches() {
        // TensorBoard's own reader tests this record, taken from a file TensorFlow wrote:
        // Event(file_version="CRC test, one two"), whose data CRC there is 0x5794d08a
        byte[] data = Event.newBuilder().setFileVersion("CRC test, one two").build().toByteArray();
        byte[] expected = new byte[2 + 17];
        expected[0] = 0x1a; // field 3, length-delimited: file_version's number is TensorFlow's
        expected[1] = 17;
        System.arraycopy("CRC test, one two".getBytes(StandardCharsets.US_ASCII), 0, expected, 2, 17);
        assertArrayEquals(expected, data);
        assertEquals(0x5794d08a, TfRecords.maskedCrc32c(data, 0, data.length));
        assertEquals(0x5794d08a, masked(data, 0, data.length));
    }

    @Test
    void fieldNumbersAreTensorFlows() {
        // Summary.Value: tag = 1 (length-delimited), simple_value = 2 (32-bit): 1.0f is 00 00 80 3f
        assertArrayEquals(new byte[]{0x0a, 1, 'a', 0x15, 0, 0, (byte) 0x80, 0x3f}, EventFileWriter.scalar("a", 1.0).toByteArray());
        // Event: wall_time = 1 (64-bit), step = 2 (varint), summary = 5; Summary.value = 1
        byte[] e = Event.newBuilder().setWallTime(0.5).setStep(3).setSummary(Summary.newBuilder().addValue(EventFileWriter.scalar("a", 1.0))).build().toByteArray();
        assertArrayEquals(new byte[]{0x09, 0, 0, 0, 0, 0, 0, (byte) 0xe0, 0x3f, 0x10, 3, 0x2a, 10, 0x0a, 8, 0x0a, 1, 'a', 0x15, 0, 0, (byte) 0x80, 0x3f}, e);
        // text: tag = 1, tensor = 8 {dtype = 1: DT_STRING 7, tensor_shape = 2: empty, string_val = 8}, metadata = 9
        // {plugin_data = 1 {plugin_name = 1: "text"}, data_class = 4: DATA_CLASS_TENSOR 2}
        assertArrayEquals(new byte[]{0x0a, 1, 't', 0x42, 7, 0x08, 7, 0x12, 0, 0x42, 1, 'x', 0x4a, 10, 0x0a, 6, 0x0a, 4, 't', 'e', 'x', 't', 0x20, 2},
                EventFileWriter.text("t", "x").toByteArray());
    }

    static List<Summary.Value> step(long s) {
        return List.of(EventFileWriter.scalar("train/loss", 1.0 / s), EventFileWriter.scalar("train/reward", s),
                EventFileWriter.text("train/completions", "step **" + s + "**"));
    }

    @Test
    void everyStepAndTagReadsBack(@TempDir Path dir) throws Exception {
        Path file;
        try (EventFileWriter w = EventFileWriter.create(dir)) {
            file = w.file();
            for (long s = 1; s <= 3; s++) w.write(s, step(s));
        }
        assertTrue(file.getFileName().toString().matches("events\\.out\\.tfevents\\.\\d{10}\\.[A-Za-z0-9._-]+"), file.toString());
        List<Event> events = readIndependently(file);
        assertEquals(4, events.size());
        assertEquals("brain.Event:2", events.getFirst().getFileVersion());
        assertTrue(events.getFirst().getWallTime() > 1.6e9);
        for (int s = 1; s <= 3; s++) {
            Event e = events.get(s);
            assertEquals(s, e.getStep());
            List<Summary.Value> v = e.getSummary().getValueList();
            assertEquals(List.of("train/loss", "train/reward", "train/completions"), v.stream().map(Summary.Value::getTag).toList());
            assertEquals((float) (1.0 / s), v.get(0).getSimpleValue());
            assertEquals((float) s, v.get(1).getSimpleValue());
            Summary.Value text = v.get(2);
            assertEquals("text", text.getMetadata().getPluginData().getPluginName());
            assertEquals(DataClass.DATA_CLASS_TENSOR, text.getMetadata().getDataClass());
            assertEquals(DataType.DT_STRING, text.getTensor().getDtype());
            assertEquals(0, text.getTensor().getTensorShape().getDimCount(), "rank 0");
            assertEquals("step **" + s + "**", text.getTensor().getStringVal(0).toStringUtf8());
        }
        assertEquals(events, EventFiles.read(file));
    }

    /** A bit flipped at {@code offset} bytes into the second record (its length, the length's CRC, its data). */
    @ParameterizedTest(name = "byte {0} of a record: {1} CRC")
    @CsvSource({"1, length", "9, length", "17, data"})
    void aCorruptedByteIsDetected(int offset, String which, @TempDir Path dir) throws Exception {
        Path file;
        try (EventFileWriter w = EventFileWriter.create(dir)) {
            file = w.file();
            for (long s = 1; s <= 3; s++) w.write(s, step(s));
        }
        byte[] bad = Files.readAllBytes(file);
        int second = 12 + (int) ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).getLong(0) + 4; // the record after the header
        bad[second + offset] ^= 0x10;
        Files.write(file, bad);
        IOException mine = assertThrows(IOException.class, () -> readIndependently(file));
        assertEquals(which + " crc at " + second, mine.getMessage());
        IOException theirs = assertThrows(IOException.class, () -> EventFiles.read(file));
        assertTrue(theirs.getMessage().endsWith(file + ": record at byte " + second + ": " + which + " CRC mismatch"), theirs.getMessage());
    }

    @Test
    void trimKeepsStepsUpToTheResumePointAndDropsATornTail(@TempDir Path dir) throws Exception {
        try (EventFileWriter w = EventFileWriter.create(dir)) {
            for (long s = 1; s <= 5; s++) w.write(s, step(s));
        }
        Path file = EventFiles.list(dir).getFirst();
        byte[] torn = TfRecords.frame(Event.newBuilder().setStep(6).build().toByteArray());
        Files.write(file, java.util.Arrays.copyOf(torn, torn.length - 3), StandardOpenOption.APPEND); // a crash mid-record
        assertThrows(IOException.class, () -> readIndependently(file));

        EventFiles.trim(dir, 3); // resumed from checkpoint-3: steps 4.. are logged again
        assertEquals(List.of(0L, 1L, 2L, 3L), readIndependently(file).stream().map(Event::getStep).toList());
        try (EventFileWriter w = EventFileWriter.append(dir)) {
            assertEquals(file, w.file(), "the same file continues");
            for (long s = 4; s <= 5; s++) w.write(s, step(s));
        }
        List<Event> events = readIndependently(file);
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L), events.stream().map(Event::getStep).toList());
        assertEquals(1, events.stream().filter(Event::hasFileVersion).count());
        assertEquals(List.of(file), EventFiles.list(dir), "no temporary left behind");

        long before = Files.getLastModifiedTime(file).toMillis();
        EventFiles.trim(dir, 5); // nothing to drop: untouched
        assertEquals(before, Files.getLastModifiedTime(file).toMillis());
        EventFiles.deleteAll(dir);
        assertEquals(List.of(), EventFiles.list(dir));
    }

    @Test
    void reportToNamesItsChoices() {
        assertEquals(Set.of(Tracker.JSONL, Tracker.TENSORBOARD), Tracker.parse(List.of("jsonl", "tensorboard"), "report_to"));
        assertEquals(Set.of(), Tracker.parse(List.of("none"), "report_to"));
        var e = assertThrows(IllegalArgumentException.class, () -> Tracker.parse(List.of("wandb"), "report_to"));
        assertEquals("report_to: unknown value 'wandb', expected one of jsonl, tensorboard, none", e.getMessage());
        var mixed = assertThrows(IllegalArgumentException.class, () -> Tracker.parse(List.of("none", "jsonl"), "--report-to"));
        assertEquals("--report-to: 'none' cannot be combined with other values", mixed.getMessage());
    }
}
