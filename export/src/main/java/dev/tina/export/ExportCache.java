package dev.tina.export;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;

/**
 * Resolves a {@code --model} argument to an exported folder: an exported folder is used as is; a
 * Hugging Face folder is exported once into a cache keyed by its fingerprint and the export
 * options ({@code $TINA_CACHE}, default {@code ~/.cache/tina}) and reused afterwards.
 */
public final class ExportCache {
    private ExportCache() {}

    public static Path root() {
        String env = System.getenv("TINA_CACHE");
        return env != null && !env.isBlank() ? Path.of(env) : Path.of(System.getProperty("user.home"), ".cache", "tina");
    }

    public static boolean isExport(Path dir) {
        return Files.isRegularFile(dir.resolve(ModelDescriptor.FILE));
    }

    private static boolean isCurrent(Path dir) {
        try {
            ModelDescriptor.read(dir);
            return true;
        } catch (Exception e) {
            return false; // an export by an older version of the tool: export again
        }
    }

    public static Path resolve(Path model, DecoderExporter.Options options) throws Exception {
        return resolve(model, options, root());
    }

    /** As {@link #resolve(Path, DecoderExporter.Options)} with the cache under {@code cacheRoot}. */
    public static Path resolve(Path model, DecoderExporter.Options options, Path cacheRoot) throws Exception {
        if (isExport(model)) return model;
        String targets = options.loraTargets().stream().map(p -> p.moduleName().replace("_proj", ""))
                .collect(Collectors.joining("-"));
        // The tokenizer files are part of the key: an export made before a tokenizer was added (or
        // its chat template fixed) must not be reused.
        String key = DecoderExporter.fingerprint(model).substring(0, 16) + "-" + DecoderExporter.sideFilesFingerprint(model).substring(0, 8)
                + "-" + options.dtype().torchName()
                + "-" + (targets.isEmpty() ? "nolora" : targets);
        Path dir = cacheRoot.resolve("exports").resolve(key);
        if (!isExport(dir) || !isCurrent(dir)) {
            DecoderExporter.export(model, dir, new DecoderExporter.Options(options.dtype(), options.loraTargets(), true));
        }
        return dir;
    }
}
