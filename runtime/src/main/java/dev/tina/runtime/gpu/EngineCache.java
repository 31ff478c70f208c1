package dev.tina.runtime.gpu;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.export.ModelDescriptor;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;

/**
 * Serialized TensorRT engines on disk, one file per {@link Key}: building an engine for a 1.5B
 * decoder takes minutes, loading one seconds. An engine only runs on the GPU model and TensorRT
 * version that built it, so both are in the key, with the model's bytes, the precision and the
 * profiles. Files are written under a temporary name and renamed, so a crash never leaves a
 * truncated engine under a valid key.
 */
public final class EngineCache {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Bytes hashed at each end of the weights file (its size and the export fingerprint cover the rest). */
    static final int EDGE_BYTES = 16 << 20;

    private final Path dir;

    public EngineCache(Path dir) { this.dir = dir; }

    /** {@code $TINA_CACHE/trt-engines}, default {@code ~/.cache/tina/trt-engines}. */
    public static EngineCache defaultCache() {
        String root = System.getenv("TINA_CACHE");
        Path base = root != null && !root.isBlank() ? Path.of(root) : Path.of(System.getProperty("user.home"), ".cache", "tina");
        return new EngineCache(base.resolve("trt-engines"));
    }

    public Path dir() { return dir; }

    /** What an engine depends on. */
    public record Key(String modelSha256, String weightsFingerprint, String gpuName, String computeCapability,
                      String tensorRtVersion, String precision, String profiles, String variant) {
        /** SHA-256 over every field, as the file name. */
        public String hash() {
            MessageDigest md = sha256();
            for (String f : new String[]{"tina-trt-engine-v1", modelSha256, weightsFingerprint, gpuName, computeCapability, tensorRtVersion,
                    precision, profiles, variant}) {
                md.update(String.valueOf(f).getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0); // separator: ("ab","c") and ("a","bc") differ
            }
            return HexFormat.of().formatHex(md.digest());
        }
    }

    /**
     * The model part of a key: SHA-256 of the ONNX graph file, and for the weights (gigabytes) the
     * export's source fingerprint, the data file's size and SHA-256 of its first and last 16 MiB.
     */
    public static String[] modelIdentity(Path exportDir) throws IOException {
        ModelDescriptor d = ModelDescriptor.read(exportDir);
        Path onnx = exportDir.resolve(d.onnxFile());
        String graph = sha256(onnx);
        Path data = exportDir.resolve(d.onnxFile() + ".data");
        String weights;
        if (Files.isRegularFile(data)) {
            long size = Files.size(data);
            weights = "size=" + size + ";edges=" + edgesSha256(data, size);
        } else {
            weights = "no-external-data";
        }
        String src = d.source() == null ? null : d.source().get("fingerprint");
        return new String[]{graph, weights + ";source=" + src};
    }

    public Path engineFile(Key key) { return dir.resolve(key.hash() + ".engine"); }

    /** The engine file for {@code key}, if a complete one is cached. */
    public Optional<Path> find(Key key) {
        Path f = engineFile(key);
        return Files.isRegularFile(f) && Files.isRegularFile(sidecar(f)) ? Optional.of(f) : Optional.empty();
    }

    /** Writes an engine: {@code writer} fills a temporary file, which is then renamed into place with its key beside it. */
    public Path store(Key key, Writer writer) throws IOException {
        Files.createDirectories(dir);
        Path f = engineFile(key);
        Path tmp = Files.createTempFile(dir, "." + key.hash(), ".tmp");
        Path tmpSide = Files.createTempFile(dir, "." + key.hash(), ".json.tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                writer.writeTo(ch);
                ch.force(true);
            }
            ObjectNode side = JSON.valueToTree(key);
            side.put("engine_bytes", Files.size(tmp));
            Files.writeString(tmpSide, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(side));
            Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            // the sidecar last: find() only trusts an engine that has one
            Files.move(tmpSide, sidecar(f), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return f;
        } finally {
            Files.deleteIfExists(tmp);
            Files.deleteIfExists(tmpSide);
        }
    }

    /** Fills the engine file. */
    @FunctionalInterface
    public interface Writer {
        void writeTo(FileChannel channel) throws IOException;
    }

    static Path sidecar(Path engine) { return engine.resolveSibling(engine.getFileName() + ".json"); }

    static String sha256(Path f) throws IOException {
        MessageDigest md = sha256();
        try (InputStream in = Files.newInputStream(f)) {
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    static String edgesSha256(Path f, long size) throws IOException {
        MessageDigest md = sha256();
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocate((int) Math.min(EDGE_BYTES, size));
            readFully(ch, buf, 0);
            md.update(buf.flip());
            if (size > EDGE_BYTES) {
                buf.clear();
                readFully(ch, buf, Math.max(EDGE_BYTES, size - EDGE_BYTES));
                md.update(buf.flip());
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) break;
            pos += n;
        }
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
