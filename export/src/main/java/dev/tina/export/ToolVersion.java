package dev.tina.export;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The project version, recorded in every artifact this tool writes (provenance). */
public final class ToolVersion {
    public static final String VERSION = load();

    private ToolVersion() {}

    private static String load() {
        try (InputStream in = ToolVersion.class.getResourceAsStream("version.properties")) {
            Properties p = new Properties();
            if (in != null) p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }
}
