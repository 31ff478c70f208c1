package dev.tina.runtime.sampling;

import dev.tina.runtime.text.HfTokenizer;

import java.util.Arrays;
import java.util.Set;

/**
 * When a sequence is done: an EOS or stop id, a stop string (cut from the text), or max new tokens.
 * The one rule of the batch sampler and the server's live batcher.
 */
public final class StopRules {
    /** Why a sequence finished, and its text (cut at a stop string; null without a tokenizer). */
    public record Finish(FinishReason reason, String text) {}

    private StopRules() {}

    /**
     * The finish of the first {@code n} of {@code tokens}, or null while the sequence goes on.
     *
     * @param ignoreEos neither EOS nor the stop ids end it (stop strings and the length still do)
     */
    public static Finish check(long[] tokens, int n, Set<Long> eosIds, boolean ignoreEos, SamplingParams p, HfTokenizer tokenizer) {
        long last = tokens[n - 1];
        FinishReason reason = null;
        String text = null;
        if (!ignoreEos && (eosIds.contains(last) || p.stopTokenIds().contains(last))) {
            reason = FinishReason.STOP;
        } else if (!p.stopStrings().isEmpty() && tokenizer != null) {
            text = tokenizer.decode(Arrays.copyOf(tokens, n), true);
            int cut = p.stopAt(text);
            if (cut >= 0) {
                reason = FinishReason.STOP;
                text = text.substring(0, cut);
            }
        }
        if (reason == null && n >= p.maxNewTokens()) reason = FinishReason.LENGTH;
        if (reason == null) return null;
        if (text == null && tokenizer != null) text = tokenizer.decode(Arrays.copyOf(tokens, n), true);
        return new Finish(reason, text);
    }
}
