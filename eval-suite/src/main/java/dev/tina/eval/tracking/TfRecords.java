package dev.tina.eval.tracking;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * TFRecord framing, the container of TensorBoard event files: per record a little-endian uint64 length,
 * the masked CRC32C of those 8 bytes, the data, the masked CRC32C of the data. The mask (rotate right by
 * 15, add a constant) keeps a CRC of data that itself holds CRCs from being degenerate.
 */
public final class TfRecords {
    private static final int MASK_DELTA = 0xa282ead8;
    private static final int HEADER = 8 + 4, FOOTER = 4;

    private TfRecords() {}

    public static int maskedCrc32c(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        int crc = (int) c.getValue();
        return ((crc >>> 15) | (crc << 17)) + MASK_DELTA;
    }

    /** One record, framed. */
    public static byte[] frame(byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(HEADER + data.length + FOOTER).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(data.length);
        b.putInt(maskedCrc32c(b.array(), 0, 8));
        b.put(data);
        b.putInt(maskedCrc32c(data, 0, data.length));
        return b.array();
    }

    /**
     * The records of a file up to the first torn or corrupt one.
     *
     * @param validBytes where the good records end
     * @param problem    what is wrong at {@code validBytes} (null when the whole file is good)
     */
    public record Prefix(List<byte[]> records, long validBytes, String problem) {
        public Prefix {
            records = List.copyOf(records);
        }
    }

    public static Prefix read(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        List<byte[]> records = new ArrayList<>();
        while (b.hasRemaining()) {
            int at = b.position();
            if (b.remaining() < HEADER) return new Prefix(records, at, "record at byte " + at + ": torn header");
            long length = b.getLong();
            if (b.getInt() != maskedCrc32c(b.array(), at, 8)) return new Prefix(records, at, "record at byte " + at + ": length CRC mismatch");
            if (length < 0 || length > b.remaining() - FOOTER) return new Prefix(records, at, "record at byte " + at + ": torn data");
            byte[] data = new byte[(int) length];
            b.get(data);
            if (b.getInt() != maskedCrc32c(data, 0, data.length)) return new Prefix(records, at, "record at byte " + at + ": data CRC mismatch");
            records.add(data);
        }
        return new Prefix(records, b.position(), null);
    }
}
