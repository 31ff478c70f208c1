package dev.tina.tools;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** The one in-process runner of the command line for tests: {@code tina args...} with stdout and stderr captured. */
public final class Cli {
    public record Run(int code, String out, String err) {}

    private Cli() {}

    /** Runs the command as {@link TinaCommand#run} does (one line and exit 2 for bad input), streams restored after. */
    public static synchronized Run tina(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = TinaCommand.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }
}
