package dev.tina.eval.bench;

import java.util.List;

/**
 * The evaluation prompts Tina used (lighteval custom tasks, {@code scripts/eval/run_eval_custom_tasks.py}
 * in shangshang-wang/Tina): the problem goes in the user turn, zero-shot, no system prompt. The texts below
 * are the Python templates after {@code .strip().format(...)}, so {@code \\boxed{{ANSWER}}} reads
 * {@code \boxed{ANSWER}} and the two spaces after "clearly." are kept.
 */
public final class PromptTemplates {
    private PromptTemplates() {}

    /** Everything before the problem text (MATH_QUERY_TEMPLATE up to its {@code {Question}}). */
    public static final String MATH_PREFIX = "Solve the following math problem efficiently and clearly.  The last line of your response "
            + "should be of the following format: 'Therefore, the final answer is: $\\boxed{ANSWER}$. I hope it is correct' (without quotes) "
            + "where ANSWER is just the final number or expression that solves the problem. Think step by step before answering.\n\n";

    /** GPQA_QUERY_TEMPLATE up to its {@code {Question}} (simple-evals' multiple-choice prompt). */
    public static final String CHOICE_PREFIX = "Answer the following multiple choice question. The last line of your response should be "
            + "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by step before answering.\n\n";

    public static String math(String problem) {
        return MATH_PREFIX + problem;
    }

    /** The question, a blank line, then {@code A) …} to {@code D) …}, one per line. */
    public static String choice(String question, List<String> options) {
        if (options.size() != 4) throw new IllegalArgumentException("the multiple-choice template takes 4 options, got " + options.size());
        return CHOICE_PREFIX + question + "\n\nA) " + options.get(0) + "\nB) " + options.get(1) + "\nC) " + options.get(2) + "\nD) " + options.get(3);
    }
}
