package dev.tina.eval.report;

/**
 * Where a variant's time went, summed over every session that worked on it (from {@code sessions.jsonl}).
 *
 * @param seconds           wall time of the sessions: generation plus the grading that trails it
 * @param generationSeconds wall time inside the sampler
 * @param tokens            tokens generated, including samples regenerated and dropped on resume
 */
public record Timing(int sessions, double seconds, double generationSeconds, long tokens, long discardedTokens) {

    public double tokensPerSecond() { return generationSeconds > 0 ? tokens / generationSeconds : 0; }

    /** Generation wall time per 1,000 generated tokens, in seconds. */
    public double secondsPer1000Tokens() { return tokens > 0 ? generationSeconds * 1000 / tokens : 0; }
}
