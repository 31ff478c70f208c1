package dev.tina.eval.grading;

/**
 * The verdict on one completion.
 *
 * @param correct   true only for {@link Status#CORRECT}: the reward
 * @param extracted the answer text found in the completion (null when none was found or time ran out)
 * @param status    why
 * @param detail    a short explanation: the parsed answers, or what could not be read
 * @param micros    time spent, in microseconds
 */
public record GradeResult(boolean correct, String extracted, Status status, String detail, long micros) {

    public enum Status {
        CORRECT,
        WRONG,
        /** The completion holds no answer at all: scored wrong, not an error. */
        NO_ANSWER,
        /** The comparison ran past the deadline: scored wrong and counted. */
        TIMEOUT,
        /** The gold itself cannot be read: never scored correct; fix the dataset. */
        GOLD_UNPARSEABLE
    }

    public GradeResult {
        if (status == null) throw new IllegalArgumentException("status is required");
        if (correct != (status == Status.CORRECT)) throw new IllegalArgumentException("correct must match status " + status);
    }

    /** The reward: 1 for correct, 0 otherwise. */
    public double reward() { return correct ? 1.0 : 0.0; }
}
