package dev.tina.eval.run;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What is evaluated: the base model (no adapter) or the base with one PEFT adapter.
 *
 * @param name    column name in the report and the sample file's name
 * @param adapter the adapter folder, null for the base
 * @param files   SHA-256 of each adapter file (empty for the base)
 * @param sha256  one digest over {@code files} (null for the base): the adapter's identity in run.json
 */
public record Variant(String name, Path adapter, Map<String, String> files, String sha256) {
    public static final String BASE = "base";

    public Variant {
        if (!name.matches("[A-Za-z0-9._-]+")) throw new IllegalArgumentException("variant name '" + name + "' must be letters, digits, '.', '_' or '-'");
        files = Map.copyOf(files);
    }

    public static Variant base() { return new Variant(BASE, null, Map.of(), null); }

    /** Hashes every regular file of the adapter folder (adapter_config.json, adapter_model.safetensors, …). */
    public static Variant adapter(String name, Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException(dir + ": no such adapter folder");
        List<Path> paths = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(Files::isRegularFile).sorted().forEach(paths::add);
        }
        if (paths.stream().noneMatch(p -> p.getFileName().toString().equals("adapter_config.json"))) {
            throw new IllegalArgumentException(dir + ": not a PEFT adapter folder (no adapter_config.json)");
        }
        Map<String, String> files = new LinkedHashMap<>();
        StringBuilder all = new StringBuilder();
        for (Path p : paths) {
            String h = sha256(p);
            files.put(p.getFileName().toString(), h);
            all.append(p.getFileName()).append(' ').append(h).append('\n');
        }
        return new Variant(name, dir, files, sha256(all.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    }

    /** N for an adapter at {@code …/checkpoint-N/adapter} (a {@code tina train} checkpoint), 0 otherwise (the base included). */
    public long trainingStep() {
        if (adapter == null) return 0;
        Path a = adapter.toAbsolutePath().normalize();
        Path named = a.getFileName().toString().equals("adapter") && a.getParent() != null ? a.getParent() : a;
        String n = named.getFileName().toString();
        return n.matches("checkpoint-\\d+") ? Long.parseLong(n.substring("checkpoint-".length())) : 0;
    }

    /** Names for the adapters: the folder names, made unique by their position when two are alike. */
    public static List<String> names(List<Path> adapters) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < adapters.size(); i++) {
            Path abs = adapters.get(i).toAbsolutePath().normalize();
            // a training run's checkpoint-N/adapter is named after its checkpoint
            Path named = abs.getFileName().toString().equals("adapter") && abs.getParent() != null ? abs.getParent() : abs;
            String n = named.getFileName().toString().replaceAll("[^A-Za-z0-9._-]", "_");
            if (n.equals(BASE)) n = "adapter-base";
            names.add(n);
        }
        List<String> unique = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            unique.add(names.indexOf(n) != names.lastIndexOf(n) ? n + "-" + (i + 1) : n);
        }
        return unique;
    }

    static String sha256(Path file) throws IOException {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest())) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
            return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
        }
    }

    static String sha256(byte[] bytes) { return HexFormat.of().formatHex(digest().digest(bytes)); }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
