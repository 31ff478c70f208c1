package dev.tina.training.grpo;

import dev.tina.eval.grading.GradeResult;
import dev.tina.eval.grading.Grader;

import java.util.List;
import java.util.Locale;

/**
 * A reward function over one completion (its text only: the prompt is not part of it), as in
 * Tina's recipes ({@code reward_funcs}). Rewards never throw: an unparseable answer scores 0.
 */
public sealed interface Reward {
    String name();

    /** The scores of one prompt's completions (its group, in order). */
    double[] scoreGroup(List<String> completions, String gold);

    /** A reward of each completion on its own: the group's scores are its completions' scores. */
    sealed interface PerCompletion extends Reward {
        double score(String completion, String gold);

        @Override
        default double[] scoreGroup(List<String> completions, String gold) {
            double[] out = new double[completions.size()];
            for (int i = 0; i < out.length; i++) out[i] = score(completions.get(i), gold);
            return out;
        }
    }

    /** 1 when the graded answer equals the gold (the eval suite's grader, with its deadline). */
    record Accuracy(Grader grader) implements PerCompletion {
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
    record Format() implements PerCompletion {
        static final String CLOSE = "\n</think>\n";

        public String name() { return "format"; }

        public double score(String completion, String gold) {
            int first = completion.indexOf(CLOSE);
            return first >= 0 && completion.indexOf(CLOSE, first + 1) < 0 ? 1.0 : 0.0;
        }
    }

    /**
     * Open-RS3's cosine-scaled accuracy: by completion length in characters (up to {@code maxLength},
     * 3584 in Tina), correct answers score from 1.0 (short) down to 0.5, wrong ones from 0.0 down
     * to −0.5, along half a cosine.
     */
    record Cosine(Grader grader, int maxLength) implements PerCompletion {
        public String name() { return "cosine"; }

        public double score(String completion, String gold) {
            boolean correct = grader.grade(gold, completion).correct();
            double progress = Math.min(1.0, (double) completion.length() / maxLength);
            double shape = 0.5 * (1 + Math.cos(progress * Math.PI)); // 1 at length 0, 0 at maxLength
            return correct ? 0.5 + 0.5 * shape : -0.5 + 0.5 * shape;
        }
    }

    /** open-r1's tag count: 0.25 for each of the four tags of the think/answer format present exactly once. */
    record TagCount() implements PerCompletion {
        public String name() { return "tag_count"; }

        public double score(String completion, String gold) {
            double r = 0;
            for (String tag : new String[]{"<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>"}) {
                if (count(completion, tag) == 1) r += 0.25;
            }
            return r;
        }
    }

    /** open-r1's reasoning steps: markers like "Step 1:", "1.", bullets, "First,"; three or more score 1. */
    record ReasoningSteps() implements PerCompletion {
        private static final java.util.regex.Pattern STEP =
                java.util.regex.Pattern.compile("(Step \\d+:|^\\d+\\.|\n-|\n\\*|First,|Second,|Next,|Finally,)", java.util.regex.Pattern.MULTILINE);

        public String name() { return "reasoning_steps"; }

        public double score(String completion, String gold) {
            long n = STEP.matcher(completion).results().count();
            return Math.min(1.0, n / 3.0);
        }
    }

    /**
     * open-r1's n-gram repetition penalty: −(1 − distinct/total) × |maxPenalty| over word
     * {@code n}-grams; 0 for a completion shorter than n words.
     */
    record RepetitionPenalty(int n, double maxPenalty) implements PerCompletion {
        public String name() { return "repetition_penalty"; }

        public double score(String completion, String gold) {
            String[] words = completion.toLowerCase(java.util.Locale.ROOT).trim().split("\\s+");
            if (completion.isBlank() || words.length < n) return 0;
            java.util.Set<String> distinct = new java.util.HashSet<>();
            int total = 0;
            for (int i = 0; i + n <= words.length; i++) {
                distinct.add(String.join(" ", java.util.Arrays.copyOfRange(words, i, i + n)));
                total++;
            }
            double repeated = 1 - (double) distinct.size() / total;
            return repeated == 0 ? 0.0 : repeated * -Math.abs(maxPenalty);
        }
    }

    private static int count(String s, String sub) {
        int c = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + 1)) c++;
        return c;
    }

    /**
     * Kimi k1.5's length reward, over the completions of one prompt: λ = 0.5 − (len − min)/(max − min)
     * (lengths in characters, within the group); correct answers get λ, wrong ones min(0, λ); all 0
     * when the group's lengths are equal.
     */
    record KimiLength(Grader grader) implements Reward {
        public String name() { return "length"; }

        @Override
        public double[] scoreGroup(List<String> completions, String gold) {
            int min = Integer.MAX_VALUE, max = 0;
            for (String c : completions) {
                min = Math.min(min, c.length());
                max = Math.max(max, c.length());
            }
            double[] out = new double[completions.size()];
            if (max == min) return out;
            for (int i = 0; i < out.length; i++) {
                double lambda = 0.5 - (double) (completions.get(i).length() - min) / (max - min);
                out[i] = grader.grade(gold, completions.get(i)).correct() ? lambda : Math.min(0, lambda);
            }
            return out;
        }
    }

    /** A reward given as code, for library users and tests. */
    record Custom(String name, java.util.function.ToDoubleBiFunction<String, String> fn) implements PerCompletion {
        public double score(String completion, String gold) { return fn.applyAsDouble(completion, gold); }
    }

    static Reward parse(String name, Grader grader) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "accuracy" -> new Accuracy(grader);
            case "format" -> new Format();
            case "cosine" -> new Cosine(grader, 3584);
            case "tag_count" -> new TagCount();
            case "reasoning_steps" -> new ReasoningSteps();
            case "repetition_penalty" -> new RepetitionPenalty(3, 1.0);
            case "length" -> new KimiLength(grader);
            default -> throw new IllegalArgumentException("unknown reward '" + name
                    + "', available: accuracy, format, cosine, length, tag_count, reasoning_steps, repetition_penalty");
        };
    }
}
