package dev.tina.training.grpo;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Training curves as a PNG: one small panel per metric against the step, drawn with Java2D (a
 * charting library would be the only other dependency for four line plots). Written atomically.
 */
final class CurvePlot {
    private CurvePlot() {}

    static void write(Path png, Map<String, List<Double>> series) throws IOException {
        int panels = series.size(), w = 480, h = 220, cols = 2, rows = (panels + cols - 1) / cols;
        BufferedImage img = new BufferedImage(w * cols, h * Math.max(1, rows), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int i = 0;
        for (var e : series.entrySet()) {
            int x0 = (i % cols) * w, y0 = (i / cols) * h;
            panel(g, x0, y0, w, h, e.getKey(), e.getValue());
            i++;
        }
        g.dispose();
        dev.tina.export.AtomicFiles.write(png, tmp -> ImageIO.write(img, "png", tmp.toFile()));
    }

    private static void panel(Graphics2D g, int x0, int y0, int w, int h, String title, List<Double> v) {
        int left = x0 + 55, right = x0 + w - 15, top = y0 + 25, bottom = y0 + h - 30;
        g.setColor(Color.DARK_GRAY);
        g.drawString(title + " (" + v.size() + " steps)", left, y0 + 15);
        g.drawRect(left, top, right - left, bottom - top);
        if (v.isEmpty()) return;
        double min = v.stream().mapToDouble(Double::doubleValue).min().orElse(0), max = v.stream().mapToDouble(Double::doubleValue).max().orElse(1);
        if (max - min < 1e-12) { max += 0.5; min -= 0.5; }
        g.drawString(String.format("%.3g", max), x0 + 2, top + 10);
        g.drawString(String.format("%.3g", min), x0 + 2, bottom);
        g.drawString("1", left, bottom + 15);
        g.drawString(Integer.toString(v.size()), right - 20, bottom + 15);
        g.setColor(new Color(31, 119, 180));
        g.setStroke(new BasicStroke(1.8f));
        int n = v.size();
        for (int k = 1; k < n; k++) {
            int xa = left + (int) ((right - left) * (k - 1) / Math.max(1.0, n - 1)), xb = left + (int) ((right - left) * k / Math.max(1.0, n - 1));
            int ya = bottom - (int) ((bottom - top) * (v.get(k - 1) - min) / (max - min));
            int yb = bottom - (int) ((bottom - top) * (v.get(k) - min) / (max - min));
            g.drawLine(xa, ya, xb, yb);
        }
    }
}
