package dev.tina.eval.report;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The shared charts draw what they are given: each series in its colour, whiskers in black, the right size. */
class ChartsTest {
    /** -Dtina.charts.dir=DIR keeps the PNGs for looking at them. */
    static Path dir(Path tmp) throws Exception {
        String keep = System.getProperty("tina.charts.dir");
        return keep == null ? tmp : Files.createDirectories(Path.of(keep));
    }

    static int pixels(BufferedImage img, Color c) {
        int n = 0;
        for (int y = 0; y < img.getHeight(); y++) for (int x = 0; x < img.getWidth(); x++) if ((img.getRGB(x, y) & 0xFFFFFF) == (c.getRGB() & 0xFFFFFF)) n++;
        return n;
    }

    @Test
    void groupedBarsWithIntervalsAndLegend(@TempDir Path tmp) throws Exception {
        Path png = dir(tmp).resolve("bars.png");
        var chart = Charts.bars("pass@1", "benchmark", "pass@1 (%)", List.of("AIME24", "MATH500", "avg"),
                List.of(new Charts.Bars("base", List.of(20.0, 80.0, 50.0), List.of(10.0, 76.0, 45.0), List.of(30.0, 84.0, 55.0)),
                        new Charts.Bars("adapter", List.of(30.0, 85.0, 57.5), List.of(20.0, 81.0, 52.0), List.of(40.0, 89.0, 63.0))),
                0, 100, "%.1f");
        Charts.writePng(png, List.of(chart), 1, 700, 420, null);
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(700, img.getWidth());
        assertEquals(420, img.getHeight());
        assertTrue(pixels(img, Charts.color(0)) > 2000, "base bars drawn");
        assertTrue(pixels(img, Charts.color(1)) > 2000, "adapter bars drawn");
        assertTrue(pixels(img, Color.BLACK) > 100, "whiskers and text drawn");
        assertThrows(IllegalArgumentException.class, () -> new Charts.Bars("x", List.of(1.0), List.of(0.5), null));
        assertThrows(IllegalArgumentException.class, () -> Charts.bars("t", "c", "v", List.of("a", "b"),
                List.of(new Charts.Bars("x", List.of(1.0), null, null)), 0, 1, null));
    }

    @Test
    void linesInAGridWithFooter(@TempDir Path tmp) throws Exception {
        Path png = dir(tmp).resolve("lines.png");
        List<Double> a = new ArrayList<>(), b = new ArrayList<>();
        for (int i = 0; i < 40; i++) { a.add(Math.min(1, i / 30.0)); b.add(0.5 + 0.4 * Math.sin(i / 5.0)); }
        b.set(10, Double.NaN);
        var one = Charts.lines("format reward", "step", "reward", List.of(new Charts.Series("run a", a), new Charts.Series("run b", b)), 0.0, 1.0);
        var two = Charts.lines("loss", "step", "loss", List.of(new Charts.Series("loss", List.of(2.0))), null, null);
        Charts.writePng(png, List.of(one, two, one), 2, 400, 250, "footer text");
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(800, img.getWidth());
        assertEquals(2 * 250 + 24, img.getHeight());
        assertTrue(pixels(img, Charts.color(0)) > 200 && pixels(img, Charts.color(1)) > 200);
        try (var listing = Files.list(png.getParent())) {
            assertTrue(listing.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary file left");
        }
    }
}
