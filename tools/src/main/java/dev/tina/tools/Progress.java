package dev.tina.tools;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.util.function.LongConsumer;

/**
 * A progress bar on stderr for long jobs (bytes in MB, or a count of items), shown only on an interactive
 * terminal and erased when done, so that logs and error output stay one line per message.
 */
final class Progress implements LongConsumer, AutoCloseable {
    private final ProgressBar bar;
    private long bytes;

    private final int shift;

    /** A bar over bytes, shown in MB. */
    Progress(String task, long totalBytes) {
        this(task, totalBytes, " MB", 20);
    }

    private Progress(String task, long total, String unit, int shift) {
        this.shift = shift;
        bar = System.console() == null ? null : new ProgressBarBuilder().setTaskName(task)
                .setInitialMax(Math.max(1, total >> shift)).setUnit(unit, 1)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).continuousUpdate().showSpeed()
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).clearDisplayOnFinish().build();
    }

    /** A bar over a count of items (sequences, problems, steps). */
    static Progress count(String task, long total, String unit) {
        return new Progress(task, total, " " + unit, 0);
    }

    /** Shows what is being done: beside the bar on a terminal, else as its own line on stdout. */
    void phase(String text) {
        if (bar != null) bar.setExtraMessage(" " + text);
        else System.out.println("· " + text);
    }

    @Override
    public synchronized void accept(long n) {
        bytes += n;
        if (bar != null) bar.stepTo(bytes >> shift);
    }

    @Override
    public void close() {
        if (bar != null) bar.close();
    }
}
