package dev.tina.tools;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.util.function.LongConsumer;

/** A console progress bar in MB for long byte-streaming jobs; closes cleanly at the end. */
final class Progress implements LongConsumer, AutoCloseable {
    private final ProgressBar bar;

    Progress(String task, long totalBytes) {
        bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(Math.max(1, totalBytes >> 20)).setUnit(" MB", 1)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).continuousUpdate().build();
    }

    private long bytes;

    @Override
    public void accept(long n) {
        bytes += n;
        bar.stepTo(bytes >> 20);
    }

    @Override
    public void close() {
        bar.close();
    }
}
