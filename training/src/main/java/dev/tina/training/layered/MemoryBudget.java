package dev.tina.training.layered;

import com.sun.management.OperatingSystemMXBean;

import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * How much memory the whole-model gradient graph may take before {@link Recompute#AUTO} picks the
 * layered pass: a fraction of the machine's physical memory ({@code 0.5}, the default) or an
 * amount in gigabytes ({@code 12GB}). Physical rather than currently free memory, so that the same
 * recipe on the same machine always picks the same pass (a resumed run replays its metrics).
 */
public record MemoryBudget(double fraction, double gigabytes) {
    public static final MemoryBudget DEFAULT = new MemoryBudget(0.5, 0);

    public MemoryBudget {
        if ((fraction > 0) == (gigabytes > 0) || fraction > 1) {
            throw new IllegalArgumentException("a memory budget is a fraction in (0, 1] or a positive number of GB, got " + fraction + " / " + gigabytes + " GB");
        }
    }

    /** "0.5" (of physical memory) or "12GB" / "12 gb". */
    public static MemoryBudget parse(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        try {
            if (t.endsWith("gb")) {
                double gb = Double.parseDouble(t.substring(0, t.length() - 2).trim());
                if (gb > 0) return new MemoryBudget(0, gb);
            } else {
                double f = Double.parseDouble(t);
                if (f > 0 && f <= 1) return new MemoryBudget(f, 0);
            }
        } catch (NumberFormatException ignored) {
            // reported below with what was expected
        }
        throw new IllegalArgumentException("memory budget '" + s + "': expected a fraction of physical memory in (0, 1] (e.g. 0.5) or gigabytes (e.g. 12GB)");
    }

    /** The budget in bytes on a machine with {@code physicalBytes} of memory. */
    public long bytes(long physicalBytes) {
        return fraction > 0 ? (long) (fraction * physicalBytes) : (long) (gigabytes * 1e9);
    }

    /** This machine's physical memory (the container's limit where there is one). */
    public static long physicalBytes() {
        return ((OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getTotalMemorySize();
    }

    @Override
    public String toString() {
        return fraction > 0 ? String.format(Locale.ROOT, "%s of physical memory", fraction) : String.format(Locale.ROOT, "%sGB", gigabytes);
    }
}
