package dev.tina.runtime.sampling;

import java.util.List;
import java.util.Set;

/**
 * How to sample: {@code n} completions per prompt; temperature 0 means greedy; top-k 0 and
 * top-p 1 and min-p 0 mean off. Applied in the order temperature → top-k → top-p → min-p, as in
 * Hugging Face's warpers and vLLM. Stop token ids add to the model's EOS ids; a stop string ends a
 * completion and is cut from its text (vLLM's default).
 */
public record SamplingParams(int n, double temperature, double topP, int topK, double minP, int maxNewTokens,
                             List<String> stopStrings, Set<Long> stopTokenIds, long seed) {
    public SamplingParams {
        if (n < 1) throw new IllegalArgumentException("n must be >= 1, got " + n);
        if (!(temperature >= 0) || Double.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0 (0 = off), got " + topK);
        if (!(minP >= 0 && minP < 1)) throw new IllegalArgumentException("min_p must be in [0, 1), got " + minP);
        if (maxNewTokens < 1) throw new IllegalArgumentException("max_new_tokens must be >= 1, got " + maxNewTokens);
        stopStrings = List.copyOf(stopStrings);
        for (String s : stopStrings) if (s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
        stopTokenIds = Set.copyOf(stopTokenIds);
    }

    public static SamplingParams greedy(int maxNewTokens) {
        return new SamplingParams(1, 0, 1, 0, 0, maxNewTokens, List.of(), Set.of(), 0);
    }

    public boolean isGreedy() { return temperature == 0; }

    public SamplingParams withN(int n) {
        return new SamplingParams(n, temperature, topP, topK, minP, maxNewTokens, stopStrings, stopTokenIds, seed);
    }

    public SamplingParams withSeed(long seed) {
        return new SamplingParams(n, temperature, topP, topK, minP, maxNewTokens, stopStrings, stopTokenIds, seed);
    }

    /** Where the earliest stop string starts in {@code text}, or -1: the completion's text is cut there. */
    public int stopAt(String text) {
        int cut = -1;
        for (String s : stopStrings) {
            int at = text.indexOf(s);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        return cut;
    }
}
