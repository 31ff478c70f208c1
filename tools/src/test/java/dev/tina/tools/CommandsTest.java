package dev.tina.tools;

import dev.tina.testsupport.Shared;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.tina.tools.TrainCommandTest.concat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The commands as a user runs them, in-process. */
class CommandsTest {
    static final Path SHARED = Shared.ROOT;
    static final Path FIXTURE = SHARED.resolve("fixtures/qwen2-small");

    /** Runs {@code tina args...} in-process with stdout and stderr captured. */
    static Cli.Run tina(String... args) { return Cli.tina(args); }

    @Test
    void parityPassesOnTheFixtureFromAnHfFolderAndFromAnExport(@TempDir Path tmp) {
        Cli.Run r = tina("parity", "--model", FIXTURE.resolve("model").toString(), "--adapter", FIXTURE.resolve("adapter").toString(),
                "--case", FIXTURE.resolve("case.safetensors").toString());
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().lines().filter(l -> l.contains("max_abs_err") && l.contains("OK")).count() == 2, r.out());

        Path export = tmp.resolve("export");
        assertEquals(0, tina("export", "--model", FIXTURE.resolve("model").toString(), "--out", export.toString()).code());
        Cli.Run again = tina("parity", "--model", export.toString(), "--case", FIXTURE.resolve("case.safetensors").toString());
        assertEquals(0, again.code(), again.out());
    }

    @Test
    void parityGrpoAndBenchTrainSayWhichGradientPassAutoTook() {
        Cli.Run grpo = tina("parity", "--model", FIXTURE.resolve("model").toString(), "--adapter", FIXTURE.resolve("adapter").toString(),
                "--case", FIXTURE.resolve("case.safetensors").toString(), "--grpo");
        assertEquals(0, grpo.code(), grpo.out());
        assertTrue(grpo.out().contains("gradient pass: --recompute none (auto: whole-graph estimate"), grpo.out());
        String[] bench = {"bench", "train", "--model", FIXTURE.resolve("model").toString(), "--batch", "2", "--seq", "16", "--rank", "4",
                "--steps", "1", "--warmup", "0"};
        Cli.Run fits = tina(bench);
        assertEquals(0, fits.code(), fits.err());
        assertTrue(fits.out().contains("--recompute none (auto: whole-graph estimate"), fits.out());
        Cli.Run small = tina(concat(bench, "--memory-budget", "0.01GB"));
        assertEquals(0, small.code(), small.err());
        assertTrue(small.out().contains("--recompute layer (auto: whole-graph estimate"), small.out());
        assertTrue(small.out().contains("time per piece"), "the layered pass ran: " + small.out());
    }

    @Test
    void parityFailsPastTheTolerance() {
        Cli.Run r = tina("parity", "--model", FIXTURE.resolve("model").toString(), "--case", FIXTURE.resolve("case.safetensors").toString(),
                "--tolerance", "1e-9");
        assertEquals(1, r.code(), r.out());
        assertTrue(r.out().contains("FAIL"), r.out());
    }
}
