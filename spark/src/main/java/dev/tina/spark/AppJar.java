package dev.tina.spark;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.Optional;

/**
 * Where the application jar is: the one file executors need ({@code spark/target/tina-spark-app.jar},
 * tina and its libraries with the ones Spark also ships relocated). Taken from the
 * {@code spark.tina.appJar} setting or system property when given, else from where this class was
 * loaded when that is a jar (the launcher and spark-submit both run from the application jar).
 */
final class AppJar {
    static final String SETTING = "spark.tina.appJar";

    private AppJar() {}

    static Optional<Path> locate(String configured) {
        if (configured != null && !configured.isBlank()) {
            Path p = Path.of(configured).toAbsolutePath();
            if (!Files.isRegularFile(p)) throw new IllegalArgumentException(SETTING + "=" + configured + ": no such file");
            return Optional.of(p);
        }
        CodeSource src = AppJar.class.getProtectionDomain().getCodeSource();
        if (src == null || src.getLocation() == null) return Optional.empty();
        try {
            Path p = Path.of(src.getLocation().toURI());
            return Files.isRegularFile(p) && p.getFileName().toString().endsWith(".jar") ? Optional.of(p) : Optional.empty();
        } catch (URISyntaxException | IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** True when the jar holds the relocated libraries (the application jar, not the thin tina-spark.jar). */
    static boolean isApplicationJar(Path jar) {
        try (var z = new java.util.zip.ZipFile(jar.toFile())) {
            return z.getEntry("dev/tina/tools/TinaCommand.class") != null && z.getEntry("dev/tina/shaded/protobuf/Message.class") != null;
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
