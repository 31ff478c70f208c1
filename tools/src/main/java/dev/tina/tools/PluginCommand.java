package dev.tina.tools;

/**
 * A {@code tina} subcommand from an optional module, found through {@link java.util.ServiceLoader}
 * (a picocli {@code @Command} class listed in {@code META-INF/services/dev.tina.tools.PluginCommand}):
 * present when that module is on the class path, absent otherwise.
 */
public interface PluginCommand {
}
