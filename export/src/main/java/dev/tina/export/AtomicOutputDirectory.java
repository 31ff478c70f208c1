package dev.tina.export;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * An output folder that appears all at once: everything is written into a hidden sibling
 * temporary folder, renamed onto the target by {@link #commit()}. Closing without committing
 * deletes the temporary folder, so a failed or interrupted job leaves nothing half-written at the
 * target.
 */
public final class AtomicOutputDirectory implements AutoCloseable {
    private final Path target;
    private final Path temp;
    private final boolean overwrite;
    private boolean committed;

    public AtomicOutputDirectory(Path target, boolean overwrite) throws IOException {
        this.target = target.toAbsolutePath().normalize();
        this.overwrite = overwrite;
        if (Files.exists(this.target) && !Files.isDirectory(this.target)) {
            throw new FileAlreadyExistsException(this.target + " exists and is not a directory");
        }
        if (Files.exists(this.target) && !overwrite && !isEmptyDir(this.target)) {
            throw new FileAlreadyExistsException(this.target + " already exists and is not empty (pass --overwrite to replace it)");
        }
        Files.createDirectories(this.target.getParent());
        this.temp = Files.createTempDirectory(this.target.getParent(), "." + this.target.getFileName() + ".tmp-");
    }

    private static boolean isEmptyDir(Path p) throws IOException {
        if (!Files.isDirectory(p)) return false;
        try (Stream<Path> s = Files.list(p)) {
            return s.findAny().isEmpty();
        }
    }

    /** Where to write. */
    public Path path() { return temp; }

    public Path target() { return target; }

    public void commit() throws IOException {
        Path old = null;
        if (Files.exists(target)) {
            old = target.resolveSibling("." + target.getFileName() + ".old-" + System.nanoTime());
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        committed = true;
        if (old != null && overwrite) deleteRecursively(old);
    }

    @Override
    public void close() throws IOException {
        if (!committed) deleteRecursively(temp);
    }

    public static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
        }
    }
}
