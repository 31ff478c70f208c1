package dev.tina.eval.grading;

/**
 * Whether a gold answer can be graded against.
 *
 * @param parseable true when the gold was read
 * @param answer    the gold as read (canonical form), null when not parseable
 * @param reason    why it cannot be read (null when it can)
 */
public record GoldCheck(boolean parseable, String answer, String reason) {
    public GoldCheck {
        if (parseable == (reason != null)) throw new IllegalArgumentException("a reason is given exactly when the gold is not parseable");
    }
}
