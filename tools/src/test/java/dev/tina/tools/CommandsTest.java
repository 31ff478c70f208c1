package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The commands as a user runs them, in-process. */
class CommandsTest {
    static final Path SHARED = Path.of(System.getProperty("tina.repo.root", "..")).resolve("../shared").normalize();
    static final Path FIXTURE = SHARED.resolve("fixtures/qwen2-small");

    record Run(int code, String out) {}

    static Run tina(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            int code = TinaCommand.run(args);
            return new Run(code, buf.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(old);
        }
    }

    @Test
    void parityPassesOnTheFixtureFromAnHfFolderAndFromAnExport(@TempDir Path tmp) {
        Run r = tina("parity", "--model", FIXTURE.resolve("model").toString(), "--adapter", FIXTURE.resolve("adapter").toString(),
                "--case", FIXTURE.resolve("case.safetensors").toString());
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().lines().filter(l -> l.contains("max_abs_err") && l.contains("OK")).count() == 2, r.out());

        Path export = tmp.resolve("export");
        assertEquals(0, tina("export", "--model", FIXTURE.resolve("model").toString(), "--out", export.toString()).code());
        Run again = tina("parity", "--model", export.toString(), "--case", FIXTURE.resolve("case.safetensors").toString());
        assertEquals(0, again.code(), again.out());
    }

    @Test
    void parityFailsPastTheTolerance() {
        Run r = tina("parity", "--model", FIXTURE.resolve("model").toString(), "--case", FIXTURE.resolve("case.safetensors").toString(),
                "--tolerance", "1e-9");
        assertEquals(1, r.code(), r.out());
        assertTrue(r.out().contains("FAIL"), r.out());
    }
}
