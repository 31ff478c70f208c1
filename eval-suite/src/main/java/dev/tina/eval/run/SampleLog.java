package dev.tina.eval.run;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.Writer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The append-only sample file of one variant. Each graded sample is written as one line and flushed at
 * once, so a crash loses at most the line being written. On open, a torn last line (no newline, not valid
 * JSON: the write a crash cut short) is cut off and its sample regenerated; any other malformed line is an
 * error naming {@code file:line}, because silently dropping it would lose a sample.
 */
public final class SampleLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final List<SampleRecord> existing;
    private final boolean droppedTornLine;
    private final Writer out;

    private SampleLog(Path file, List<SampleRecord> existing, boolean droppedTornLine, Writer out) {
        this.file = file;
        this.existing = existing;
        this.droppedTornLine = droppedTornLine;
        this.out = out;
    }

    public static SampleLog open(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        List<SampleRecord> records = new ArrayList<>();
        boolean torn = false;
        if (Files.exists(file)) {
            byte[] bytes = Files.readAllBytes(file);
            String text = new String(bytes, StandardCharsets.UTF_8);
            int start = 0, line = 0;
            while (start < text.length()) {
                int nl = text.indexOf('\n', start);
                line++;
                String s = text.substring(start, nl < 0 ? text.length() : nl);
                if (nl < 0) {
                    // the last line has no newline: a complete record is kept (and terminated), a torn one cut off
                    SampleRecord r = tryParse(s);
                    if (r != null) {
                        records.add(r);
                        Files.writeString(file, "\n", StandardOpenOption.APPEND);
                    } else {
                        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                            ch.truncate(text.substring(0, start).getBytes(StandardCharsets.UTF_8).length);
                        }
                        torn = true;
                    }
                    break;
                }
                if (!s.isBlank()) records.add(parse(s, file + ":" + line));
                start = nl + 1;
            }
        }
        Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        return new SampleLog(file, List.copyOf(records), torn, w);
    }

    private static SampleRecord parse(String line, String origin) {
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (JacksonException e) {
            throw new IllegalArgumentException(origin + ": malformed sample line (not valid JSON: " + e.getOriginalMessage()
                    + "); fix or delete that line and run again to regenerate it");
        }
        if (n == null || !n.isObject()) throw new IllegalArgumentException(origin + ": malformed sample line (not a JSON object)");
        return SampleRecord.fromJson(n, origin);
    }

    private static SampleRecord tryParse(String line) {
        try {
            return parse(line, "");
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    public Path file() { return file; }

    /** The samples already on disk, in file order. */
    public List<SampleRecord> existing() { return existing; }

    /** Whether opening cut off a torn last line. */
    public boolean droppedTornLine() { return droppedTornLine; }

    /** Appends one sample and flushes it to the operating system. */
    public synchronized void append(SampleRecord r) throws IOException {
        out.write(r.toJson(JSON));
        out.write('\n');
        out.flush();
    }

    /** Every sample in the file now (what the report is built from). */
    public static List<SampleRecord> readAll(Path file) throws IOException {
        List<SampleRecord> out = new ArrayList<>();
        int line = 0;
        for (String s : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            line++;
            if (!s.isBlank()) out.add(parse(s, file + ":" + line));
        }
        return out;
    }

    @Override
    public synchronized void close() throws IOException { out.close(); }
}
