package dev.tina.tools;

import dev.tina.runtime.gpu.GpuProbe;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static dev.tina.tools.GenerateCommandTest.assertBad;
import static dev.tina.tools.GenerateCommandTest.tina;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** --device on the commands: unknown values list the choices; GPU paths on a machine without a GPU fail in one line, exit 2. */
class GpuOptionsTest {
    static final Path MODEL = CommandsTest.SHARED.resolve("fixtures/qwen2-small/model");
    static final Path CASE = CommandsTest.SHARED.resolve("fixtures/qwen2-small/case.safetensors");

    @Test
    void unknownDevicesListTheChoices() {
        String m = MODEL.toString();
        assertBad(tina("generate", "--model", m, "--prompt-ids", "1", "--device", "tpu"), "expected cpu, cuda or tensorrt");
        assertBad(tina("parity", "--model", m, "--case", CASE.toString(), "--device", "tpu"), "expected cpu, cuda or tensorrt");
        assertBad(tina("train", "--recipe", "limr", "--model", m, "--dataset", "x.jsonl", "--device", "tpu"), "unknown device 'tpu'");
    }

    @Test
    void gpuPathsWithoutAGpuNameWhatIsMissing() {
        assumeTrue(GpuProbe.gpu().isEmpty(), "this machine has a GPU");
        String m = MODEL.toString();
        assertBad(tina("generate", "--model", m, "--prompt-ids", "1", "--max-new-tokens", "2", "--device", "tensorrt"), "--device tensorrt cannot start");
        assertBad(tina("bench", "generate", "--model", m, "--batches", "1", "--new-tokens", "2", "--device", "tensorrt"), "--device tensorrt cannot start");
        assertBad(tina("parity", "--model", m, "--case", CASE.toString(), "--device", "tensorrt"), "--device tensorrt cannot start");
        assertBad(tina("generate", "--model", m, "--prompt-ids", "1", "--max-new-tokens", "2", "--device", "cuda"), "--device cuda cannot start");
        assertBad(tina("parity", "--model", m, "--case", CASE.toString(), "--device", "cuda"), "--device cuda cannot start");
    }
}
