package dev.tina.training.optim;

import java.util.Locale;

/**
 * Learning-rate schedules with linear warmup, as transformers' {@code get_scheduler} defines
 * them (names are TRL's {@code lr_scheduler_type}): the multiplier of the base rate at optimizer
 * step {@code step} (0-based, the step about to be taken) out of {@code total}.
 */
public sealed interface LrSchedule {
    double factor(long step, long total, long warmup);

    default double lr(double base, long step, long total, long warmup) {
        return base * factor(step, total, warmup);
    }

    record Constant() implements LrSchedule {
        public double factor(long step, long total, long warmup) {
            return step < warmup ? (double) step / Math.max(1, warmup) : 1.0;
        }
    }

    record Linear() implements LrSchedule {
        public double factor(long step, long total, long warmup) {
            if (step < warmup) return (double) step / Math.max(1, warmup);
            return Math.max(0.0, (double) (total - step) / Math.max(1, total - warmup));
        }
    }

    /** Cosine decay to {@code minLrRate} × base (0 for plain "cosine"), half a cycle. */
    record Cosine(double minLrRate) implements LrSchedule {
        public Cosine {
            if (!(minLrRate >= 0 && minLrRate <= 1)) throw new IllegalArgumentException("min_lr_rate must be in [0, 1], got " + minLrRate);
        }

        public double factor(long step, long total, long warmup) {
            if (step < warmup) return (double) step / Math.max(1, warmup);
            double progress = (double) (step - warmup) / Math.max(1, total - warmup);
            double cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
            return Math.max(0.0, cosine * (1 - minLrRate) + minLrRate);
        }
    }

    /** Parses TRL's names: constant, constant_with_warmup, linear, cosine, cosine_with_min_lr. */
    static LrSchedule parse(String name, double minLrRate) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "constant", "constant_with_warmup" -> new Constant();
            case "linear" -> new Linear();
            case "cosine" -> new Cosine(0);
            case "cosine_with_min_lr" -> new Cosine(minLrRate);
            default -> throw new IllegalArgumentException("unknown lr_scheduler_type '" + name
                    + "', expected one of constant, constant_with_warmup, linear, cosine, cosine_with_min_lr");
        };
    }

    /** Warmup steps from {@code warmup_ratio}, rounded up as transformers does. */
    static long warmupSteps(double ratio, long total) {
        if (!(ratio >= 0 && ratio <= 1)) throw new IllegalArgumentException("warmup_ratio must be in [0, 1], got " + ratio);
        return (long) Math.ceil(ratio * total);
    }
}
