package dev.tina.training.grpo;

import dev.tina.eval.grading.GradeResult;
import dev.tina.eval.grading.Grader;

import java.util.Locale;

/**
 * A reward function over one completion (its text only: the prompt is not part of it), as in
 * Tina's recipes ({@code reward_funcs}). Rewards never throw: an unparseable answer scores 0.
 */
public sealed interface Reward {
    String name();

    double score(String completion, String gold);

    /** 1 when the graded answer equals the gold (the eval suite's grader, with its deadline). */
    record Accuracy(Grader grader) implements Reward {
        public String name() { return "accuracy"; }

        public double score(String completion, String gold) {
            GradeResult r = grader.grade(gold, completion);
            return r.correct() ? 1.0 : 0.0;
        }
    }

    /**
     * 1 when the completion contains {@code "\n</think>\n"} exactly once. The completion is what
     * the model wrote after the prompt; with DeepSeek-R1-Distill's template the prompt already
     * opened {@code <think>}, so only the closing tag is asked of the model, which is why the
     * check is on the closing tag alone.
     */
    record Format() implements Reward {
        static final String CLOSE = "\n</think>\n";

        public String name() { return "format"; }

        public double score(String completion, String gold) {
            int first = completion.indexOf(CLOSE);
            return first >= 0 && completion.indexOf(CLOSE, first + 1) < 0 ? 1.0 : 0.0;
        }
    }

    /** A reward given as code, for library users and tests. */
    record Custom(String name, java.util.function.ToDoubleBiFunction<String, String> fn) implements Reward {
        public double score(String completion, String gold) { return fn.applyAsDouble(completion, gold); }
    }

    static Reward parse(String name, Grader grader) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "accuracy" -> new Accuracy(grader);
            case "format" -> new Format();
            default -> throw new IllegalArgumentException("unknown reward '" + name + "', available: accuracy, format");
        };
    }
}
