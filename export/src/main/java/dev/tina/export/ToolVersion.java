package dev.tina.export;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The project version, recorded in every artifact this tool writes (provenance), and the build it came from. */
public final class ToolVersion {
    private static final Properties PROPERTIES = load();
    public static final String VERSION = PROPERTIES.getProperty("version", "unknown");
    /** When this build was made (UTC): two builds of the same version differ here. */
    public static final String BUILD = PROPERTIES.getProperty("build", "unknown");

    private ToolVersion() {}

    /** "VERSION (build BUILD)", what a driver and its executors must agree on. */
    public static String full() { return VERSION + " (build " + BUILD + ")"; }

    private static Properties load() {
        Properties p = new Properties();
        try (InputStream in = ToolVersion.class.getResourceAsStream("version.properties")) {
            if (in != null) p.load(in);
        } catch (IOException e) {
            // "unknown" below
        }
        return p;
    }
}
