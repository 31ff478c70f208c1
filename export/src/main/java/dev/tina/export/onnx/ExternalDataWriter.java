package dev.tina.export.onnx;

import dev.tina.export.checkpoint.SafetensorsWriter;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Appends tensor bytes to an ONNX external-data file ({@code model.onnx.data}), streaming each
 * tensor straight from its source. Large tensors start on 4096-byte boundaries, as the ONNX spec
 * recommends so that runtimes can memory-map them; small ones on 64 bytes to keep tiny models small.
 */
public final class ExternalDataWriter implements AutoCloseable {
    private static final long PAGE = 4096, SMALL = 64, LARGE_TENSOR = 1 << 16;

    private final Path file;
    private final FileChannel channel;

    public ExternalDataWriter(Path file) throws IOException {
        this.file = file;
        this.channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    }

    public Path file() { return file; }

    /** Writes one tensor; returns its byte offset in the file. */
    public long append(long byteSize, SafetensorsWriter.Content content) throws IOException {
        long align = byteSize >= LARGE_TENSOR ? PAGE : SMALL;
        long pos = channel.position();
        long start = (pos + align - 1) / align * align;
        if (start > pos) {
            ByteBuffer pad = ByteBuffer.allocate((int) (start - pos));
            while (pad.hasRemaining()) channel.write(pad);
        }
        content.writeTo(channel);
        if (channel.position() != start + byteSize) {
            throw new IllegalStateException(file + ": tensor content wrote " + (channel.position() - start) + " bytes, expected " + byteSize);
        }
        return start;
    }

    @Override
    public void close() throws IOException {
        channel.force(false);
        channel.close();
    }
}
