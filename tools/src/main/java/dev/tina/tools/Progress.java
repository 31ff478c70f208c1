package dev.tina.tools;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.util.function.LongConsumer;

/**
 * A progress bar in MB on stderr for long byte-streaming jobs, shown only on an interactive
 * terminal and erased when done, so that logs and error output stay one line per message.
 */
final class Progress implements LongConsumer, AutoCloseable {
    private final ProgressBar bar;
    private long bytes;

    Progress(String task, long totalBytes) {
        bar = System.console() == null ? null : new ProgressBarBuilder().setTaskName(task)
                .setInitialMax(Math.max(1, totalBytes >> 20)).setUnit(" MB", 1)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).continuousUpdate()
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).clearDisplayOnFinish().build();
    }

    @Override
    public void accept(long n) {
        bytes += n;
        if (bar != null) bar.stepTo(bytes >> 20);
    }

    @Override
    public void close() {
        if (bar != null) bar.close();
    }
}
