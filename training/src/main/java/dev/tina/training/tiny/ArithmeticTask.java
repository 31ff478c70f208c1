package dev.tina.training.tiny;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The embedded model's task: chains of two-digit additions and subtractions ("What is
 * 37+48-19?"), answered in the form of real math reasoning: a {@code <think>} block of steps,
 * then {@code \boxed{answer}}.
 *
 * <p>The pre-training corpus holds two kinds of correct solutions: one operation per line
 * ({@code 37+48=85}, {@code 85-19=66}), or the whole chain in one line ({@code 37+48-19=66}).
 * A model of a million parameters does one two-digit operation reliably but not a whole chain
 * at once, so the base model's accuracy depends on which style it happens to sample: that is
 * the room GRPO has, and what it learns (to reason step by step) is what Tina's rewards are
 * meant to teach. A share of the corpus also leaves out the closing {@code </think>}, so the
 * format reward starts below 1 and has something to saturate.
 */
public final class ArithmeticTask {
    /** Operands are two-digit; running totals stay in [0, 999]. */
    static final int MIN = 10, MAX = 99;

    /** How a solution is written. */
    public enum Style { STEPS, ONE_LINE }

    public record Problem(int[] operands, char[] ops, int answer) {
        /** The question exactly as the model sees it. */
        public String question() {
            StringBuilder sb = new StringBuilder("What is ").append(operands[0]);
            for (int i = 0; i < ops.length; i++) sb.append(ops[i]).append(operands[i + 1]);
            return sb.append('?').toString();
        }

        /**
         * What the assistant writes after the prompt (which already opened {@code <think>\n}):
         * the steps, then (when {@code closeThink}) {@code \n</think>\n}, then the boxed answer.
         */
        public String completion(Style style, boolean closeThink) {
            StringBuilder sb = new StringBuilder();
            if (style == Style.ONE_LINE || ops.length == 1) {
                sb.append(operands[0]);
                for (int i = 0; i < ops.length; i++) sb.append(ops[i]).append(operands[i + 1]);
                sb.append('=').append(answer);
            } else {
                int acc = operands[0];
                for (int i = 0; i < ops.length; i++) {
                    int next = ops[i] == '+' ? acc + operands[i + 1] : acc - operands[i + 1];
                    if (i > 0) sb.append('\n');
                    sb.append(acc).append(ops[i]).append(operands[i + 1]).append('=').append(next);
                    acc = next;
                }
            }
            sb.append(closeThink ? "\n</think>\n" : "\n");
            return sb.append("\\boxed{").append(answer).append('}').toString();
        }
    }

    /** The mix of a corpus or problem set. */
    public record Mix(double[] operandWeights, double oneLineShare, double unclosedShare) {
        /** operandWeights[k] is the weight of problems with k + 2 operands. */
        public Mix {
            operandWeights = operandWeights.clone();
            if (oneLineShare < 0 || oneLineShare > 1 || unclosedShare < 0 || unclosedShare > 1) {
                throw new IllegalArgumentException("shares must be in [0, 1]");
            }
        }

        int operands(SplittableRandom rnd) {
            double total = 0;
            for (double w : operandWeights) total += w;
            double u = rnd.nextDouble() * total;
            for (int k = 0; k < operandWeights.length; k++) {
                u -= operandWeights[k];
                if (u < 0) return k + 2;
            }
            return operandWeights.length + 1;
        }
    }

    /** Pre-training: mostly 2–3 operands, half the chains in one line, 15% without a closing tag. */
    public static final Mix PRETRAIN = new Mix(new double[]{0.4, 0.4, 0.2}, 0.5, 0.15);
    /** GRPO prompts and held-out problems: 3 and 4 operands, harder than most of the corpus. */
    public static final Mix HARD = new Mix(new double[]{0, 0.5, 0.5}, 0, 0);

    private ArithmeticTask() {}

    public static Problem problem(SplittableRandom rnd, int operands) {
        if (operands < 2) throw new IllegalArgumentException("a problem needs at least 2 operands, got " + operands);
        int[] v = new int[operands];
        char[] ops = new char[operands - 1];
        v[0] = rnd.nextInt(MIN, MAX + 1);
        int acc = v[0];
        for (int i = 1; i < operands; i++) {
            v[i] = rnd.nextInt(MIN, MAX + 1);
            boolean minus = rnd.nextBoolean();
            if (minus && acc - v[i] < 0) minus = false;
            if (!minus && acc + v[i] > 999) minus = true;
            ops[i - 1] = minus ? '-' : '+';
            acc = minus ? acc - v[i] : acc + v[i];
        }
        return new Problem(v, ops, acc);
    }

    /** One corpus example: a problem of the mix and a solution written in a style the mix draws. */
    public record Example(Problem problem, String completion) {}

    public static Example example(SplittableRandom rnd, Mix mix) {
        Problem p = problem(rnd, mix.operands(rnd));
        Style s = rnd.nextDouble() < mix.oneLineShare() ? Style.ONE_LINE : Style.STEPS;
        boolean close = rnd.nextDouble() >= mix.unclosedShare();
        return new Example(p, p.completion(s, close));
    }

    /** {@code n} distinct problems of the mix from {@code seed}, none of whose questions is in {@code exclude}. */
    public static List<Problem> problems(long seed, int n, Mix mix, Set<String> exclude) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Problem> out = new ArrayList<>(n);
        Set<String> seen = new HashSet<>(exclude);
        while (out.size() < n) {
            Problem p = problem(rnd, mix.operands(rnd));
            if (seen.add(p.question())) out.add(p);
        }
        return out;
    }

    /** The held-out problems every evaluation of the embedded model uses (seed fixed, 3–4 operands). */
    public static List<Problem> heldOut(int n) {
        return problems(HELD_OUT_SEED, n, HARD, Set.of());
    }

    static final long HELD_OUT_SEED = 20_260_601L;
    /** Enough held-out problems for any demo; corpora and GRPO prompts exclude all of them. */
    public static final int HELD_OUT_POOL = 2000;

    public static Set<String> heldOutQuestions() {
        Set<String> s = new HashSet<>();
        for (Problem p : heldOut(HELD_OUT_POOL)) s.add(p.question());
        return s;
    }
}
