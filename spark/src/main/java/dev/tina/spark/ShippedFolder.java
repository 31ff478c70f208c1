package dev.tina.spark;

import dev.tina.export.AtomicOutputDirectory;
import dev.tina.export.ExportCache;
import org.apache.spark.SparkFiles;
import org.apache.spark.api.java.JavaSparkContext;

import java.io.IOException;
import java.io.InputStream;
import java.io.Serial;
import java.io.Serializable;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * A folder (an exported model, an adapter) shipped to executors through Spark itself, for clusters
 * where executors cannot read the driver's path. The driver adds each file to the application
 * ({@link JavaSparkContext#addFile}, served by the driver; Spark fetches it once per executor, or
 * once per host with its fetch cache); an executor links (or copies) the fetched files into
 * {@code $TINA_CACHE/shipped/FINGERPRINT/} under a temporary name and renames it into place, so a
 * folder is assembled once per host and fingerprint and reused by later runs.
 *
 * <p>The fingerprint is a CRC32C of every file's name, size and bytes: a changed model gets a new
 * folder, and the driver reads the export once to compute it (about a second per GB).
 */
record ShippedFolder(String fingerprint, List<String> names) implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;
    /** Setting: ship the model (and adapters) through Spark instead of reading the driver's path on executors. */
    static final String SETTING = "spark.tina.shipModel";

    ShippedFolder {
        names = List.copyOf(names);
    }

    /** Ships {@code dir}'s files (not hidden ones, not the training graphs executors build for themselves). */
    static ShippedFolder ship(JavaSparkContext jsc, Path dir) throws IOException {
        Path d = dir.toAbsolutePath();
        List<Path> files;
        try (Stream<Path> s = Files.list(d)) {
            files = s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith("."))
                    .filter(p -> !p.getFileName().toString().startsWith("grpo-")).sorted(Comparator.comparing(Path::toString)).toList();
        }
        if (files.isEmpty()) throw new IllegalArgumentException(d + ": nothing to ship (an empty folder)");
        CRC32C crc = new CRC32C();
        byte[] buf = new byte[1 << 20];
        List<String> names = new ArrayList<>();
        long total = 0;
        for (Path f : files) {
            String name = f.getFileName().toString();
            long size = Files.size(f);
            names.add(name);
            total += size;
            crc.update((name + "\0" + size + "\0").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            try (InputStream in = Files.newInputStream(f)) {
                for (int n; (n = in.read(buf)) > 0; ) crc.update(buf, 0, n);
            }
        }
        String fp = HexFormat.of().toHexDigits((int) crc.getValue()) + "-" + Long.toHexString(total);
        ShippedFolder shipped = new ShippedFolder(fp, names);
        // Spark names added files by their file name (a symbolic link's target's): hard links named by fingerprint keep two
        // folders' config.json apart without copying a model; beside the folder, so on its file system, else a copy in /tmp
        Path staging = stagingFolder(d, fp);
        for (Path f : files) {
            Path link = staging.resolve(shipped.fileName(f.getFileName().toString()));
            if (!Files.exists(link)) {
                try {
                    Files.createLink(link, f);
                } catch (IOException | UnsupportedOperationException e) {
                    Files.copy(f, link);
                }
            }
            jsc.addFile(link.toString());
        }
        return shipped;
    }

    private static final List<Path> STAGING = new ArrayList<>();

    /** Removes the driver's staging folders (links or copies; the originals stay): the cluster is closing. */
    static void removeStaging() {
        List<Path> all;
        synchronized (STAGING) {
            all = new ArrayList<>(STAGING);
            STAGING.clear();
        }
        for (Path dir : all) {
            try {
                AtomicOutputDirectory.deleteRecursively(dir);
            } catch (IOException e) {
                System.err.println("tina: cannot remove " + dir + ": " + e.getMessage());
            }
        }
    }

    private static Path stagingFolder(Path dir, String fp) throws IOException {
        Path beside = dir.resolveSibling(".tina-ship-" + fp);
        try {
            Files.createDirectories(beside);
        } catch (IOException e) {
            beside = Files.createTempDirectory("tina-ship-");
        }
        synchronized (STAGING) {
            STAGING.add(beside);
        }
        return beside;
    }

    String fileName(String name) { return "tina-" + fingerprint + "-" + name; }

    /** On an executor: the folder, assembled from Spark's fetched files the first time on this host. */
    Path fetch() throws IOException {
        Path root = ExportCache.root().resolve("shipped");
        Path target = root.resolve(fingerprint);
        if (Files.isDirectory(target)) return target;
        Files.createDirectories(root);
        Path tmp = root.resolve("." + fingerprint + "." + UUID.randomUUID());
        Files.createDirectory(tmp);
        try {
            for (String name : names) {
                Path src = Path.of(SparkFiles.get(fileName(name)));
                if (!Files.isRegularFile(src)) throw new IOException(ExecutorWorkers.where() + ": Spark did not fetch " + fileName(name));
                try {
                    Files.createLink(tmp.resolve(name), src); // no second copy of a 7 GB export where the file system allows
                } catch (IOException | UnsupportedOperationException e) {
                    Files.copy(src, tmp.resolve(name), StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException e) {
                // another executor on this host was first: its folder has the same content
            }
        } finally {
            AtomicOutputDirectory.deleteRecursively(tmp); // gone when it was moved into place
        }
        return target;
    }
}
