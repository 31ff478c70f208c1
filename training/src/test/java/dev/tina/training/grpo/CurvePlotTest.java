package dev.tina.training.grpo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** curves.png: one panel per metric, two a row (look at it with -Dtina.charts.dir=DIR). */
class CurvePlotTest {
    @Test
    void onePanelPerMetric(@TempDir Path tmp) throws Exception {
        String keep = System.getProperty("tina.charts.dir");
        Path dir = keep == null ? tmp : Files.createDirectories(Path.of(keep));
        Map<String, List<Double>> series = new LinkedHashMap<>();
        for (String m : List.of("reward", "loss", "kl", "completion_length", "grad_norm")) {
            List<Double> v = new ArrayList<>();
            for (int s = 0; s < 25; s++) v.add(m.equals("loss") ? 1.0 / (s + 1) : m.length() + Math.sin(s));
            series.put(m, v);
        }
        Path png = dir.resolve("curves.png");
        CurvePlot.write(png, series);
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(1040, img.getWidth());
        assertEquals(3 * 260, img.getHeight());
    }
}
