package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.tina.tools.CommandsTest.tina;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's first command, shortened: fewer GRPO steps and held-out problems, same pipeline and model. */
class DemoCommandTest {
    @Test
    void aShortDemoRaisesTheRewardOverTheBaselineOfTheSameRun(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("demo");
        Cli.Run r = tina("demo", "--out", out.toString(), "--steps", "16", "--seeds", "1", "--eval-problems", "64", "--eval-samples", "2");
        assertEquals(0, r.code(), r.out());
        JsonNode rep = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        JsonNode run = rep.get("runs").get(0);
        double first = mean(run.get("accuracy_reward"), 0, 4), last = mean(run.get("accuracy_reward"), 12, 16);
        System.out.println("short demo: rollout accuracy " + run.get("accuracy_reward") + ", held-out " + rep.get("accuracy_before") + " -> " + rep.get("accuracy_after"));
        // the baseline is this run's own: the base model's held-out accuracy and the first steps' rollouts
        assertTrue(last > first + 0.1, "rollout accuracy " + run.get("accuracy_reward"));
        assertTrue(rep.get("accuracy_after").asDouble() > rep.get("accuracy_before").asDouble() + 0.05, rep.toString());
        assertTrue(rep.get("wall_seconds").asDouble() > 0);
        assertTrue(Files.size(out.resolve("report.png")) > 5000);
        assertTrue(Files.readString(out.resolve("report.md")).contains("| accuracy |"));
    }

    @Test
    void resumeKeepsFinishedRunsAndReproducesTheReport(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("demo");
        String[] args = {"demo", "--out", out.toString(), "--steps", "3", "--seeds", "1", "--eval-problems", "16", "--eval-samples", "1"};
        assertEquals(0, tina(args).code());
        JsonNode first = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        long stamp = Files.getLastModifiedTime(out.resolve("runs/r16-seed1/checkpoint-3/adapter/adapter_model.safetensors")).toMillis();
        String[] again = java.util.Arrays.copyOf(args, args.length + 1);
        again[args.length] = "--resume";
        assertEquals(0, tina(again).code());
        JsonNode second = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        assertEquals(stamp, Files.getLastModifiedTime(out.resolve("runs/r16-seed1/checkpoint-3/adapter/adapter_model.safetensors")).toMillis(),
                "the finished run is not trained again");
        for (String k : new String[]{"accuracy_before", "accuracy_after", "format_after"}) assertEquals(first.get(k), second.get(k), k);
        assertEquals(first.get("runs").get(0).get("reward"), second.get("runs").get(0).get("reward"));
    }

    private static double mean(JsonNode a, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) s += a.get(i).asDouble();
        return s / (to - from);
    }
}
