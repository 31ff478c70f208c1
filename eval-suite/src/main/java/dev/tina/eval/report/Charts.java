package dev.tina.eval.report;

import dev.tina.export.AtomicFiles;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.block.BlockBorder;
import org.jfree.chart.labels.ItemLabelAnchor;
import org.jfree.chart.labels.ItemLabelPosition;
import org.jfree.chart.labels.StandardCategoryItemLabelGenerator;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.CategoryItemRendererState;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.category.CategoryDataset;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.Paint;
import java.awt.RenderingHints;
import java.awt.geom.Line2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Every PNG chart of the project (eval report, demo report, training curves), drawn with JFreeChart in one style:
 * headless, white background, axis ticks and labels, a legend whenever there is more than one series.
 */
public final class Charts {
    static {
        System.setProperty("java.awt.headless", "true"); // servers have no display; must precede the first AWT use
    }

    private Charts() {}

    /** Colour-blind-friendly palette (matplotlib's "tab10"), used in series order everywhere. */
    private static final Color[] PALETTE = {new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44),
            new Color(214, 39, 40), new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194),
            new Color(127, 127, 127), new Color(188, 189, 34), new Color(23, 190, 207)};
    private static final Font TITLE = new Font(Font.SANS_SERIF, Font.BOLD, 14);
    private static final Color GRID = new Color(0xDDDDDD);

    /** A line's values at steps 1, 2, …; NaN leaves a gap. */
    public record Series(String name, List<Double> values) {
        public Series {
            if (name == null || values == null) throw new IllegalArgumentException("a series needs a name and values");
            values = List.copyOf(values);
        }
    }

    /** One bar per category; {@code low}/{@code high} (may be null) draw an interval whisker over each bar. */
    public record Bars(String name, List<Double> values, List<Double> low, List<Double> high) {
        public Bars {
            if (name == null || values == null) throw new IllegalArgumentException("bars need a name and values");
            if ((low == null) != (high == null) || low != null && (low.size() != values.size() || high.size() != values.size())) {
                throw new IllegalArgumentException("bars '" + name + "': interval ends must be given for every value");
            }
            values = List.copyOf(values);
            low = low == null ? null : List.copyOf(low);
            high = high == null ? null : List.copyOf(high);
        }
    }

    public static Color color(int i) { return PALETTE[Math.floorMod(i, PALETTE.length)]; }

    /**
     * Lines against the step (x from 1). {@code yMin}/{@code yMax} fix the value axis (null: fitted to the data).
     */
    public static JFreeChart lines(String title, String xLabel, String yLabel, List<Series> series, Double yMin, Double yMax) {
        XYSeriesCollection data = new XYSeriesCollection();
        for (Series s : series) {
            XYSeries xy = new XYSeries(s.name(), false, true);
            for (int i = 0; i < s.values().size(); i++) {
                double v = s.values().get(i);
                xy.add(i + 1, Double.isFinite(v) ? v : null);
            }
            data.addSeries(xy);
        }
        JFreeChart chart = ChartFactory.createXYLineChart(title, xLabel, yLabel, data, PlotOrientation.VERTICAL, series.size() > 1, false, false);
        style(chart);
        XYPlot plot = chart.getXYPlot();
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < series.size(); i++) {
            r.setSeriesPaint(i, color(i));
            r.setSeriesStroke(i, new BasicStroke(1.8f));
            // a single point would draw nothing as a line
            if (series.get(i).values().size() == 1) r.setSeriesShapesVisible(i, true);
        }
        plot.setRenderer(r);
        NumberAxis x = (NumberAxis) plot.getDomainAxis();
        x.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        int n = series.stream().mapToInt(s -> s.values().size()).max().orElse(1);
        x.setRange(1, Math.max(2, n));
        NumberAxis y = (NumberAxis) plot.getRangeAxis();
        y.setAutoRangeIncludesZero(false);
        if (yMin != null && yMax != null) {
            y.setRange(yMin, yMax);
        } else {
            double lo = series.stream().flatMap(s -> s.values().stream()).filter(Double::isFinite).mapToDouble(Double::doubleValue).min().orElse(0);
            double hi = series.stream().flatMap(s -> s.values().stream()).filter(Double::isFinite).mapToDouble(Double::doubleValue).max().orElse(1);
            if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) { // a flat line: give the axis a span to tick
                double pad = Math.max(0.5, Math.abs(hi) * 0.1);
                y.setRange(lo - pad, hi + pad);
            }
        }
        return chart;
    }

    /**
     * Grouped bars: one group per category, one bar per {@link Bars} entry; values printed above the bars when
     * {@code valueFormat} is not null (e.g. "%.2f"), interval whiskers where given.
     */
    public static JFreeChart bars(String title, String categoryLabel, String valueLabel, List<String> categories, List<Bars> bars,
                                  double yMin, double yMax, String valueFormat) {
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        for (Bars b : bars) {
            if (b.values().size() != categories.size()) throw new IllegalArgumentException("bars '" + b.name() + "': "
                    + b.values().size() + " values for " + categories.size() + " categories");
            for (int c = 0; c < categories.size(); c++) data.addValue(b.values().get(c), b.name(), categories.get(c));
        }
        JFreeChart chart = ChartFactory.createBarChart(title, categoryLabel, valueLabel, data, PlotOrientation.VERTICAL, true, false, false);
        style(chart);
        CategoryPlot plot = chart.getCategoryPlot();
        WhiskerBarRenderer r = new WhiskerBarRenderer(bars);
        r.setBarPainter(new StandardBarPainter());
        r.setShadowVisible(false);
        r.setItemMargin(0.05);
        r.setDrawBarOutline(false);
        for (int i = 0; i < bars.size(); i++) r.setSeriesPaint(i, color(i));
        if (valueFormat != null) {
            r.setDefaultItemLabelGenerator(new StandardCategoryItemLabelGenerator("{2}", new DecimalFormat(decimalPattern(valueFormat))));
            r.setDefaultItemLabelsVisible(true);
            if (bars.stream().anyMatch(b -> b.low() != null)) { // beside the whisker, not across it
                r.setDefaultPositiveItemLabelPosition(new ItemLabelPosition(ItemLabelAnchor.OUTSIDE12, TextAnchor.BOTTOM_RIGHT));
                r.setItemLabelAnchorOffset(3);
            }
            r.setDefaultItemLabelFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
        }
        plot.setRenderer(r);
        CategoryAxis x = plot.getDomainAxis();
        x.setCategoryMargin(0.2);
        if (categories.stream().mapToInt(String::length).max().orElse(0) * categories.size() > 80) {
            x.setCategoryLabelPositions(CategoryLabelPositions.UP_45);
        }
        NumberAxis y = (NumberAxis) plot.getRangeAxis();
        y.setRange(yMin, yMax);
        return chart;
    }

    /** "%.2f" → "0.00" for {@link java.text.DecimalFormat}. */
    private static String decimalPattern(String printf) {
        var m = Pattern.compile("%\\.(\\d)f").matcher(printf);
        return m.matches() ? "0." + "0".repeat(Integer.parseInt(m.group(1))) : "0.###";
    }

    /** Draws the charts in a grid (row by row) with an optional footer line, as one PNG written atomically. */
    public static void writePng(Path png, List<JFreeChart> panels, int columns, int panelWidth, int panelHeight, String footer) throws IOException {
        if (panels.isEmpty()) throw new IllegalArgumentException("no chart to draw into " + png);
        int cols = Math.max(1, Math.min(columns, panels.size())), rows = (panels.size() + cols - 1) / cols;
        int footerH = footer == null ? 0 : 24;
        BufferedImage img = new BufferedImage(cols * panelWidth, rows * panelHeight + footerH, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, img.getWidth(), img.getHeight());
            for (int i = 0; i < panels.size(); i++) {
                panels.get(i).draw(g, new Rectangle2D.Double((i % cols) * panelWidth, (i / cols) * panelHeight, panelWidth, panelHeight));
            }
            if (footer != null) {
                g.setColor(Color.DARK_GRAY);
                g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
                g.drawString(footer, 10, rows * panelHeight + 16);
            }
        } finally {
            g.dispose();
        }
        AtomicFiles.write(png, tmp -> {
            if (!ImageIO.write(img, "png", tmp.toFile())) throw new IOException("no PNG writer in this JVM");
        });
    }

    private static void style(JFreeChart chart) {
        chart.setBackgroundPaint(Color.WHITE);
        chart.setAntiAlias(true);
        chart.setPadding(new RectangleInsets(6, 4, 4, 8));
        TextTitle t = chart.getTitle();
        if (t != null) t.setFont(TITLE);
        if (chart.getLegend() != null) {
            chart.getLegend().setPosition(RectangleEdge.BOTTOM);
            chart.getLegend().setFrame(BlockBorder.NONE);
        }
        if (chart.getPlot() instanceof XYPlot p) {
            p.setBackgroundPaint(Color.WHITE);
            p.setDomainGridlinePaint(GRID);
            p.setRangeGridlinePaint(GRID);
            p.setOutlinePaint(Color.GRAY);
        } else if (chart.getPlot() instanceof CategoryPlot p) {
            p.setBackgroundPaint(Color.WHITE);
            p.setRangeGridlinePaint(GRID);
            p.setOutlinePaint(Color.GRAY);
        }
    }

    /** JFreeChart's bar renderer plus an asymmetric interval whisker per bar (its statistical renderer is ± one deviation). */
    private static final class WhiskerBarRenderer extends BarRenderer {
        private final transient List<Bars> bars;

        WhiskerBarRenderer(List<Bars> bars) { this.bars = new ArrayList<>(bars); }

        @Override
        public void drawItem(Graphics2D g2, CategoryItemRendererState state, Rectangle2D dataArea, CategoryPlot plot, CategoryAxis domainAxis,
                             ValueAxis rangeAxis, CategoryDataset dataset, int row, int column, int pass) {
            super.drawItem(g2, state, dataArea, plot, domainAxis, rangeAxis, dataset, row, column, pass);
            Bars b = bars.get(row);
            if (pass != 0 || b.low() == null) return;
            double x0 = calculateBarW0(plot, plot.getOrientation(), dataArea, domainAxis, state, row, column);
            double cx = x0 + state.getBarWidth() / 2, half = Math.min(4, state.getBarWidth() / 4);
            double lo = rangeAxis.valueToJava2D(b.low().get(column), dataArea, plot.getRangeAxisEdge());
            double hi = rangeAxis.valueToJava2D(b.high().get(column), dataArea, plot.getRangeAxisEdge());
            Paint old = g2.getPaint();
            g2.setPaint(Color.BLACK);
            g2.setStroke(new BasicStroke(1.2f));
            g2.draw(new Line2D.Double(cx, lo, cx, hi));
            g2.draw(new Line2D.Double(cx - half, lo, cx + half, lo));
            g2.draw(new Line2D.Double(cx - half, hi, cx + half, hi));
            g2.setPaint(old);
        }
    }
}
