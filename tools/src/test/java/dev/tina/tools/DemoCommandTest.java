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
        CommandsTest.Run r = tina("demo", "--out", out.toString(), "--steps", "16", "--seeds", "1", "--eval-problems", "64", "--eval-samples", "2");
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

    private static double mean(JsonNode a, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) s += a.get(i).asDouble();
        return s / (to - from);
    }
}
