package dev.tina.tools;

import dev.tina.eval.tracking.EventFiles;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Event;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Summary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static dev.tina.tools.GenerateCommandTest.assertBad;
import static dev.tina.tools.GenerateCommandTest.tina;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tina train --report-to}: the embedded tiny model for a few short steps, through the command line. */
class TrainCommandTest {
    static final Path MODEL = Path.of(System.getProperty("tina.repo.root", "..")).resolve("onnx-models/tiny-reasoner");

    @Test
    void reportToTensorBoardWritesEventsBesideTheMetricsAndAResumeContinuesThem(@TempDir Path dir) throws Exception {
        Path recipe = dir.resolve("recipe.yaml"), data = dir.resolve("data.jsonl"), out = dir.resolve("run");
        Files.writeString(recipe, """
                per_device_train_batch_size: 8
                num_generations: 4
                max_completion_length: 12
                lora_r: 4
                lora_alpha: 16
                save_steps: 2
                """);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 12; i++) sb.append("{\"problem\": \"").append(i).append(" + ").append(i + 1).append("\", \"answer\": \"").append(2 * i + 1).append("\"}\n");
        Files.writeString(data, sb);
        String[] common = {"train", "--recipe", recipe.toString(), "--model", MODEL.toString(), "--dataset", data.toString(), "--out", out.toString(),
                "--report-to", "jsonl,tensorboard"};
        var first = tina(concat(common, "--max-steps", "2"));
        assertEquals(0, first.code(), first.err());
        // recompute auto (the default): the tiny model's whole graph fits half of any machine's memory
        assertTrue(first.err().contains("gradient pass: --recompute none (auto: whole-graph estimate"), first.err());
        assertEquals(2, Files.readAllLines(out.resolve("metrics.jsonl")).size());
        assertTrue(Files.readAllLines(out.resolve("metrics.jsonl")).getFirst().contains("\"recompute\":\"none\""));
        // a budget below the estimate: auto takes the layered pass, and says so
        var r = tina(concat(common, "--max-steps", "3", "--resume", "--memory-budget", "0.01GB"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("gradient pass: --recompute layer (auto: whole-graph estimate"), r.err());
        assertTrue(Files.readAllLines(out.resolve("metrics.jsonl")).getLast().contains("\"recompute\":\"layer\""));
        assertTrue(Files.readString(out.resolve("summary.json")).contains("> budget 0.0 GB"), Files.readString(out.resolve("summary.json")));

        List<Path> files = EventFiles.list(out);
        assertEquals(1, files.size(), "the resumed run appends to its own file: " + files);
        List<Event> events = EventFiles.read(files.getFirst());
        assertEquals(List.of(0L, 1L, 2L, 3L), events.stream().map(Event::getStep).toList());
        for (Event e : events.subList(1, events.size())) {
            List<String> tags = e.getSummary().getValueList().stream().map(Summary.Value::getTag).toList();
            assertTrue(tags.containsAll(List.of("train/loss", "train/reward", "train/rewards/format/mean", "train/rewards/accuracy/mean", "train/kl",
                    "train/completions")), tags.toString());
        }
        assertEquals(3, Files.readAllLines(out.resolve("metrics.jsonl")).size());

        assertBad(tina(concat(common, "--report-to", "wandb")), "--report-to: unknown value 'wandb', expected one of jsonl, tensorboard, none");
    }

    static String[] concat(String[] a, String... more) {
        String[] all = Arrays.copyOf(a, a.length + more.length);
        System.arraycopy(more, 0, all, a.length, more.length);
        return all;
    }
}
