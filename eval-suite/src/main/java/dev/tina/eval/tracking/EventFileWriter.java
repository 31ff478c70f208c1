package dev.tina.eval.tracking;

import com.google.protobuf.ByteString;
import dev.tina.eval.tracking.proto.TensorBoardProtos.DataClass;
import dev.tina.eval.tracking.proto.TensorBoardProtos.DataType;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Event;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Summary;
import dev.tina.eval.tracking.proto.TensorBoardProtos.SummaryMetadata;
import dev.tina.eval.tracking.proto.TensorBoardProtos.TensorProto;
import dev.tina.eval.tracking.proto.TensorBoardProtos.TensorShapeProto;

import java.io.Closeable;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Appends {@link Event}s to one TensorBoard event file, each framed as a TFRecord and flushed to the
 * operating system as it is written, so a crash loses at most the record being written (and
 * {@link EventFiles#trim} drops that torn tail). A new file starts with {@code file_version}.
 */
public final class EventFileWriter implements Closeable {
    public static final String FILE_VERSION = "brain.Event:2";
    /** TensorBoard's text plugin: a string tensor, rendered as Markdown. */
    public static final String TEXT_PLUGIN = "text";

    private final Path file;
    private final FileOutputStream out;
    private boolean closed;

    private EventFileWriter(Path file) throws IOException {
        this.file = file;
        boolean fresh = !Files.exists(file) || Files.size(file) == 0;
        this.out = new FileOutputStream(file.toFile(), true);
        if (fresh) {
            try {
                write(Event.newBuilder().setWallTime(now()).setFileVersion(FILE_VERSION).build());
            } catch (IOException | RuntimeException e) {
                out.close();
                throw e;
            }
        }
    }

    /** A new event file {@code events.out.tfevents.<seconds>.<host>} in {@code dir}. */
    public static EventFileWriter create(Path dir) throws IOException {
        Files.createDirectories(dir);
        return new EventFileWriter(EventFiles.newFileName(dir));
    }

    /** Appends to the newest event file in {@code dir} (run {@link EventFiles#trim} first after a crash), or creates one. */
    public static EventFileWriter append(Path dir) throws IOException {
        List<Path> files = EventFiles.list(dir);
        return files.isEmpty() ? create(dir) : new EventFileWriter(files.getLast());
    }

    /** Writes to exactly this file (a temporary one to be renamed, for a file written whole). */
    public static EventFileWriter at(Path file) throws IOException {
        return new EventFileWriter(file);
    }

    public Path file() { return file; }

    /** One event holding {@code values} at {@code step}, flushed. */
    public void write(long step, List<Summary.Value> values) throws IOException {
        write(Event.newBuilder().setWallTime(now()).setStep(step).setSummary(Summary.newBuilder().addAllValue(values)).build());
    }

    public void write(Event event) throws IOException {
        if (closed) throw new IllegalStateException(file + ": event writer is closed");
        out.write(TfRecords.frame(event.toByteArray()));
        out.flush();
    }

    /** A scalar (TensorBoard's scalars dashboard; a float32, as TensorFlow's simple_value). */
    public static Summary.Value scalar(String tag, double value) {
        return Summary.Value.newBuilder().setTag(tag).setSimpleValue((float) value).build();
    }

    /** A Markdown text (TensorBoard's text dashboard): a rank-0 string tensor tagged for the text plugin. */
    public static Summary.Value text(String tag, String markdown) {
        SummaryMetadata meta = SummaryMetadata.newBuilder()
                .setPluginData(SummaryMetadata.PluginData.newBuilder().setPluginName(TEXT_PLUGIN))
                .setDataClass(DataClass.DATA_CLASS_TENSOR).build();
        TensorProto tensor = TensorProto.newBuilder().setDtype(DataType.DT_STRING)
                .setTensorShape(TensorShapeProto.getDefaultInstance()) // rank 0: no dims
                .addStringVal(ByteString.copyFrom(markdown, StandardCharsets.UTF_8)).build();
        return Summary.Value.newBuilder().setTag(tag).setMetadata(meta).setTensor(tensor).build();
    }

    private static double now() { return System.currentTimeMillis() / 1000.0; }

    @Override
    public void close() throws IOException {
        if (closed) return;
        closed = true;
        out.close();
    }
}
