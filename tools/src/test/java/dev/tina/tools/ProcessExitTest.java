package dev.tina.tools;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A whole {@code tina} process that opened and closed ONNX Runtime sessions ends with its own
 * exit code, no JVM crash log, and no unpacked native libraries left behind (issue 12/13: a
 * SIGSEGV in ONNX Runtime's logging at the end of {@code tina pretrain-tiny}).
 */
class ProcessExitTest {
    private static Process tina(Path dir, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "--add-opens=java.base/java.nio=ALL-UNNAMED",
                "--add-modules", "jdk.incubator.vector", "-Djava.io.tmpdir=" + dir.resolve("tmp"), "-cp", System.getProperty("java.class.path"), TinaCommand.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("out-" + args[0] + ".txt").toFile());
        pb.environment().put("TINA_CACHE", dir.resolve("cache").toString());
        return pb.start();
    }

    @Test
    void sessionsOpenedAndClosedThenACleanExit(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("tmp"));
        Path cfg = dir.resolve("c.json");
        Files.writeString(cfg, """
                {"architectures": ["Qwen2ForCausalLM"], "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
                 "tie_word_embeddings": true, "max_position_embeddings": 64, "eos_token_id": 63}""");
        Process init = tina(dir, "init-model", "--config", cfg.toString(), "--random", "--out", dir.resolve("m").toString());
        assertTrue(init.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, init.exitValue(), Files.readString(dir.resolve("out-init-model.txt")));
        Process gen = tina(dir, "generate", "--model", dir.resolve("m").toString(), "--prompt-ids", "1,2,3", "--max-new-tokens", "4", "--n", "3",
                "--temperature", "1");
        assertTrue(gen.waitFor(120, TimeUnit.SECONDS));
        String out = Files.readString(dir.resolve("out-generate.txt"));
        assertEquals(0, gen.exitValue(), out);
        try (var files = Files.list(dir)) {
            assertFalse(files.anyMatch(f -> f.getFileName().toString().startsWith("hs_err")), "a JVM crash log: " + out);
        }
        try (var files = Files.list(dir.resolve("tmp"))) {
            assertFalse(files.anyMatch(f -> f.getFileName().toString().startsWith("tina-ort-training-")), "unpacked natives left behind");
        }
    }
}
