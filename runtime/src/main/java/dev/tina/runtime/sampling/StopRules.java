package dev.tina.runtime.sampling;

import dev.tina.runtime.text.HfTokenizer;
import dev.tina.runtime.text.IncrementalDetokenizer;

import java.util.Arrays;
import java.util.List;
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
     * Watches one sequence's text for the request's stop strings as its tokens arrive, each token
     * decoding a short window ({@link IncrementalDetokenizer}) and searching only where a new
     * occurrence can end; null where there is nothing to watch (no stop strings or no tokenizer).
     */
    public static Watch watch(SamplingParams p, HfTokenizer tokenizer) {
        return p.stopStrings().isEmpty() || tokenizer == null ? null : new Watch(p, tokenizer);
    }

    public static final class Watch {
        private final List<String> stops;
        private final IncrementalDetokenizer text;
        private final int longest;

        private Watch(SamplingParams p, HfTokenizer tokenizer) {
            this.stops = p.stopStrings();
            this.text = new IncrementalDetokenizer(tokenizer, true);
            this.longest = stops.stream().mapToInt(String::length).max().orElse(1);
        }

        /** Adds the next token; whether a stop string now appears in the text (one not seen before ends in the new text). */
        boolean sees(long token) {
            int before = text.text().length();
            if (text.append(token).isEmpty()) return false;
            int from = Math.max(0, before - longest + 1);
            for (String s : stops) if (text.indexOf(s, from) >= 0) return true;
            return false;
        }
    }

    /**
     * The finish of the first {@code n} of {@code tokens}, or null while the sequence goes on. Called
     * once per token, in order: {@code watch} ({@link #watch}, or null) sees each token once.
     *
     * @param ignoreEos neither EOS nor the stop ids end it (stop strings and the length still do)
     */
    public static Finish check(long[] tokens, int n, Set<Long> eosIds, boolean ignoreEos, SamplingParams p, HfTokenizer tokenizer, Watch watch) {
        long last = tokens[n - 1];
        FinishReason reason = null;
        String text = null;
        if (!ignoreEos && (eosIds.contains(last) || p.stopTokenIds().contains(last))) {
            reason = FinishReason.STOP;
        } else if (watch != null && watch.sees(last)) {
            // the answer's text is the whole sequence's decoding, cut at the first stop string in it
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
