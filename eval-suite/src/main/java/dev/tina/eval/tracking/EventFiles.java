package dev.tina.eval.tracking;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Event;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Summary;
import dev.tina.export.AtomicFiles;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/** The event files of one TensorBoard run folder: listing, reading, trimming for a resumed run, deleting. */
public final class EventFiles {
    static final String PREFIX = "events.out.tfevents.";

    private EventFiles() {}

    /** The folder's event files, oldest first (by the time in their names, then by name); none when it does not exist. */
    public static List<Path> list(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> isEventFile(p) && Files.isRegularFile(p))
                    .sorted(Comparator.comparingLong(EventFiles::seconds).thenComparing(p -> p.getFileName().toString())).toList();
        }
    }

    /** Every event of a file; a torn or corrupt record is an error naming the file and byte. */
    public static List<Event> read(Path file) throws IOException {
        TfRecords.Prefix p = TfRecords.read(file);
        if (p.problem() != null) throw new IOException(file + ": " + p.problem());
        List<Event> out = new ArrayList<>();
        for (byte[] r : p.records()) out.add(parse(file, r));
        return out;
    }

    /**
     * Keeps only events at or before {@code lastStep} (and the file header) in every event file of the folder,
     * rewriting a file atomically where something goes: a resumed run logs the later steps again, and TensorBoard
     * would draw the repeats as zig-zags. A torn or corrupt tail (a crash mid-write) goes too.
     */
    public static void trim(Path dir, long lastStep) throws IOException {
        for (Path f : list(dir)) {
            TfRecords.Prefix p = TfRecords.read(f);
            List<byte[]> keep = new ArrayList<>();
            boolean dropped = p.problem() != null;
            for (byte[] r : p.records()) {
                Event e;
                try {
                    e = Event.parseFrom(r);
                } catch (InvalidProtocolBufferException bad) {
                    dropped = true; // framed but not an event: nothing after it is trusted
                    break;
                }
                if (e.hasFileVersion() || e.getStep() <= lastStep) keep.add(r);
                else dropped = true;
            }
            if (!dropped) continue;
            AtomicFiles.write(f, tmp -> {
                try (OutputStream out = Files.newOutputStream(tmp)) {
                    for (byte[] r : keep) out.write(TfRecords.frame(r));
                }
            });
        }
    }

    /**
     * Replaces the folder's events with one event at {@code step} holding {@code values}, written whole under a
     * temporary name and renamed over the folder's event file (a report rewritten on every run, never appended).
     */
    public static Path writeWhole(Path dir, long step, List<Summary.Value> values) throws IOException {
        Files.createDirectories(dir);
        List<Path> old = list(dir);
        Path file = old.isEmpty() ? newFileName(dir) : old.getFirst();
        AtomicFiles.write(file, tmp -> {
            try (EventFileWriter w = EventFileWriter.at(tmp)) {
                w.write(step, values);
            }
        });
        for (Path p : old) if (!p.equals(file)) Files.deleteIfExists(p);
        return file;
    }

    /** Deletes the folder's event files (a run started afresh). */
    public static void deleteAll(Path dir) throws IOException {
        for (Path f : list(dir)) Files.deleteIfExists(f);
    }

    /** {@code events.out.tfevents.<seconds>.<host>} in {@code dir}, with a counter added if that name is taken. */
    static Path newFileName(Path dir) {
        String base = PREFIX + System.currentTimeMillis() / 1000 + "." + host();
        Path p = dir.resolve(base);
        for (int i = 1; Files.exists(p); i++) p = dir.resolve(base + "." + i);
        return p;
    }

    static boolean isEventFile(Path p) {
        String n = p.getFileName().toString();
        return n.startsWith(PREFIX) && !n.endsWith(".tmp");
    }

    private static long seconds(Path p) {
        String rest = p.getFileName().toString().substring(PREFIX.length());
        int dot = rest.indexOf('.');
        try {
            return Long.parseLong(dot < 0 ? rest : rest.substring(0, dot));
        } catch (NumberFormatException e) {
            return Long.MAX_VALUE; // another writer's naming: after ours
        }
    }

    private static String host() {
        String h;
        try {
            h = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            h = System.getenv().getOrDefault("HOSTNAME", "localhost");
        }
        String clean = h.replaceAll("[^A-Za-z0-9._-]", "_");
        return clean.isEmpty() ? "localhost" : clean;
    }

    private static Event parse(Path file, byte[] r) throws IOException {
        try {
            return Event.parseFrom(r);
        } catch (InvalidProtocolBufferException e) {
            throw new IOException(file + ": a record is not an Event: " + e.getMessage(), e);
        }
    }
}
