package dev.tina.tools;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** This process's resident memory from Linux's /proc, for the benchmarks' peak-RSS columns. */
final class ProcessMemory {
    private ProcessMemory() {}

    /** The kernel's peak-RSS mark (VmHWM), in GB; NaN where /proc has none. */
    static double peakRssGb() throws IOException {
        return statusGb("VmHWM:");
    }

    /** The current RSS (VmRSS), in GB; NaN where /proc has none. */
    static double rssGb() throws IOException {
        return statusGb("VmRSS:");
    }

    /**
     * Resets the peak-RSS mark to the current RSS (Linux: "5" to /proc/self/clear_refs), so that
     * each workload of one run reports its own peak; false where that is not possible.
     */
    static boolean resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static double statusGb(String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(key)) return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0 / 1024.0;
        }
        return Double.NaN;
    }
}
