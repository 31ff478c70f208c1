package dev.tina.eval.report;

import dev.tina.eval.score.BenchmarkScore;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code report.png}: pass@1 per benchmark and avg, one bar per variant, 95% intervals as whiskers; plain Java2D. */
public final class ReportChart {
    private static final Color[] PALETTE = {new Color(0x4C72B0), new Color(0xDD8452), new Color(0x55A868), new Color(0xC44E52),
            new Color(0x8172B3), new Color(0x937860), new Color(0xDA8BC3), new Color(0x8C8C8C)};

    private ReportChart() {}

    public static void write(EvalReport report, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true"); // no display on servers; must precede the first AWT use
        List<String> labels = new ArrayList<>();
        for (BenchmarkScore b : report.variants().getFirst().scores()) labels.add(b.label());
        labels.add("avg");
        int groups = labels.size(), bars = report.variants().size();
        int left = 60, right = 20, top = 50, bottom = 70, groupWidth = Math.max(70, 24 * bars + 30);
        int width = left + right + groups * groupWidth, height = 420;
        int plotH = height - top - bottom;
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
            g.setColor(Color.BLACK);
            g.drawString("pass@1 (%) with 95% intervals", left, 25);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            FontMetrics fm = g.getFontMetrics();
            for (int pct = 0; pct <= 100; pct += 20) { // grid and y axis
                int y = top + plotH - pct * plotH / 100;
                g.setColor(new Color(0xE5E5E5));
                g.drawLine(left, y, width - right, y);
                g.setColor(Color.DARK_GRAY);
                String s = Integer.toString(pct);
                g.drawString(s, left - 8 - fm.stringWidth(s), y + fm.getAscent() / 2 - 1);
            }
            g.setColor(Color.BLACK);
            g.drawLine(left, top + plotH, width - right, top + plotH);
            int barW = (groupWidth - 30) / bars;
            for (int gi = 0; gi < groups; gi++) {
                int x0 = left + gi * groupWidth + 15;
                for (int vi = 0; vi < bars; vi++) {
                    VariantResult v = report.variants().get(vi);
                    double value = gi < groups - 1 ? v.scores().get(gi).pass1() : v.average().pass1();
                    double[] ci = gi < groups - 1 ? v.scores().get(gi).ci95() : v.average().ci95();
                    int x = x0 + vi * barW, h = (int) Math.round(value * plotH);
                    g.setColor(PALETTE[vi % PALETTE.length]);
                    g.fillRect(x + 1, top + plotH - h, barW - 2, h);
                    g.setColor(Color.BLACK);
                    g.setStroke(new BasicStroke(1.2f));
                    int cx = x + barW / 2, ylo = top + plotH - (int) Math.round(ci[0] * plotH), yhi = top + plotH - (int) Math.round(ci[1] * plotH);
                    g.drawLine(cx, ylo, cx, yhi);
                    g.drawLine(cx - 3, ylo, cx + 3, ylo);
                    g.drawLine(cx - 3, yhi, cx + 3, yhi);
                }
                String label = labels.get(gi);
                g.drawString(label, x0 + (barW * bars - fm.stringWidth(label)) / 2, top + plotH + 18);
            }
            int lx = left; // legend
            for (int vi = 0; vi < bars; vi++) {
                String name = report.variants().get(vi).variant().name();
                g.setColor(PALETTE[vi % PALETTE.length]);
                g.fillRect(lx, height - 30, 12, 12);
                g.setColor(Color.BLACK);
                g.drawString(name, lx + 16, height - 20);
                lx += 30 + fm.stringWidth(name);
            }
        } finally {
            g.dispose();
        }
        if (!ImageIO.write(img, "png", png.toFile())) throw new IOException("no PNG writer in this JVM");
    }
}
