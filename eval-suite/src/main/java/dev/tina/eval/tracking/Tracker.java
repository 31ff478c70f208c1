package dev.tina.eval.tracking;

import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Where a run's metrics go, as TRL's {@code report_to} names them: {@code jsonl} (the run folder's own
 * {@code metrics.jsonl}, the default) and {@code tensorboard} (event files beside it); {@code none} is the
 * empty list.
 */
public enum Tracker {
    JSONL, TENSORBOARD;

    public static final List<String> CHOICES = List.of("jsonl", "tensorboard", "none");

    public String cli() { return name().toLowerCase(Locale.ROOT); }

    /**
     * The trackers a {@code report_to} list names; {@code field} names the setting in errors (a recipe field or
     * a command-line option). {@code none} stands alone, as in TRL.
     */
    public static Set<Tracker> parse(List<String> values, String field) {
        if (values == null || values.isEmpty()) throw new IllegalArgumentException(field + ": empty; expected one or more of " + String.join(", ", CHOICES));
        Set<Tracker> out = EnumSet.noneOf(Tracker.class);
        boolean none = false;
        for (String v : values) {
            String s = v == null ? "null" : v.strip().toLowerCase(Locale.ROOT);
            switch (s) {
                case "jsonl" -> out.add(JSONL);
                case "tensorboard" -> out.add(TENSORBOARD);
                case "none" -> none = true;
                default -> throw new IllegalArgumentException(field + ": unknown value '" + v + "', expected one of " + String.join(", ", CHOICES));
            }
        }
        if (none && !out.isEmpty()) throw new IllegalArgumentException(field + ": 'none' cannot be combined with other values");
        return out;
    }
}
