package dev.tina.eval.run;

/**
 * How a run samples and prompts. Everything but {@code batchRows} and {@code device} decides which samples a
 * run makes, so those fields are pinned in {@code run.json} and checked on resume.
 *
 * @param samples      samples per problem (k of pass@k ≤ this)
 * @param limit        the first {@code limit} problems of each benchmark, 0 for all
 * @param system       system prompt, null for none (Tina's evaluation had none)
 */
public record EvalSettings(int samples, int maxNewTokens, double temperature, double topP, long seed, boolean chat, String system, int limit,
                           int batchRows, String device) {
    public EvalSettings {
        if (samples < 1) throw new IllegalArgumentException("--n-samples must be >= 1, got " + samples);
        if (maxNewTokens < 1) throw new IllegalArgumentException("--max-new-tokens must be >= 1, got " + maxNewTokens);
        if (!(temperature >= 0) || Double.isInfinite(temperature)) throw new IllegalArgumentException("--temperature must be >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
        if (limit < 0) throw new IllegalArgumentException("--limit must be >= 0 (0 = all problems), got " + limit);
        if (batchRows < 1) throw new IllegalArgumentException("--batch-rows must be >= 1, got " + batchRows);
    }

    /** The paper's sampling: temperature 0.6, top-p 0.95, one sample per problem, seed 42, 32768 new tokens, chat template on. */
    public static EvalSettings paper() {
        return new EvalSettings(1, 32768, 0.6, 0.95, 42, true, null, 0, 64, "cpu");
    }
}
