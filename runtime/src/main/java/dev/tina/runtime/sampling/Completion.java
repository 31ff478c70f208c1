package dev.tina.runtime.sampling;

/**
 * One sampled completion of prompt {@code promptIndex} (sample {@code sampleIndex} of n):
 * generated ids (prompt excluded, including a final EOS id), the log-probability of each under
 * the model's unscaled distribution (temperature 1, no truncation: what RL needs as the
 * sampler's log-probs), the decoded text (null without a tokenizer; special tokens skipped;
 * cut before a matched stop string) and why it ended.
 */
public record Completion(int promptIndex, int sampleIndex, long[] tokenIds, float[] logprobs, String text,
                         FinishReason finishReason) {
}
