package dev.tina.training.tiny;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The demo's report.png: four panels and a footer (look at it with -Dtina.charts.dir=DIR). */
class DemoReportChartTest {
    @Test
    void drawsFourPanels(@TempDir Path tmp) throws Exception {
        String keep = System.getProperty("tina.charts.dir");
        Path dir = keep == null ? tmp : Files.createDirectories(Path.of(keep));
        List<TinyDemo.Run> runs = new ArrayList<>();
        for (int k = 0; k < 3; k++) {
            List<Double> reward = new ArrayList<>(), format = new ArrayList<>(), acc = new ArrayList<>();
            for (int s = 0; s < 60; s++) {
                format.add(Math.min(1, 0.3 + s / 50.0 + 0.02 * k));
                acc.add(Math.min(1, 0.2 + s / 120.0 + 0.03 * k));
                reward.add(format.getLast() + 2 * acc.getLast());
            }
            var after = new HeldOutEval.Result(64, 2, 0.4 + 0.05 * k, 0.97, 0.5, 0.6, 0.3, 1000, 1);
            runs.add(new TinyDemo.Run(4 << k, 16 << k, 42 + k, after, reward, format, acc, 30, 500));
        }
        var before = new HeldOutEval.Result(64, 2, 0.3, 0.6, 0.4, 0.5, 0.2, 1000, 1);
        var r = new ObjectMapper().readTree("""
                {"format_before": 0.6, "format_after": 0.97, "wall_seconds": 120, "cores": 2,
                 "eval_tokens_per_second": 900, "rollout_tokens_per_second": 700}""");
        Path png = dir.resolve("demo-report.png");
        DemoReport.chart(png, before, runs, r);
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(1120, img.getWidth());
        assertEquals(2 * 300 + 24, img.getHeight());
    }
}
