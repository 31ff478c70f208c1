package dev.tina.training.tiny;

import dev.tina.eval.grading.Grader;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.training.grpo.Reward;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.IntConsumer;

/**
 * Held-out accuracy of the embedded model (base or with an adapter): every problem × {@code n}
 * samples through the batched sampler with Tina's evaluation sampling (temperature 0.6, top-p
 * 0.95 by default), graded by the eval suite's grader. Accuracy is pass@1 averaged over samples.
 */
public final class HeldOutEval {
    /** Tina's evaluation sampling. */
    public static final double TEMPERATURE = 0.6, TOP_P = 0.95;

    /**
     * @param stepByStepAccuracy accuracy of the samples whose first line is one operation (NaN when none)
     * @param oneLineAccuracy    accuracy of the others, which start with the whole chain in one line
     */
    public record Result(int problems, int samplesPerProblem, double accuracy, double formatRate, double stepByStepRate,
                         double stepByStepAccuracy, double oneLineAccuracy, long tokens, double seconds) {
        public double tokensPerSecond() { return tokens / Math.max(1e-9, seconds); }
    }

    private HeldOutEval() {}

    /** The prompt text the chat template renders for a question (tested against the template itself). */
    public static String promptText(String question) {
        return ByteTokenizer.IM_START + "user\n" + question + ByteTokenizer.IM_END + "\n" + ByteTokenizer.IM_START + "assistant\n"
                + ByteTokenizer.THINK + "\n";
    }

    public static Result run(LoadedModel model, BatchSampler sampler, AdapterBinding adapter, List<ArithmeticTask.Problem> problems,
                             int n, long seed, Grader grader, IntConsumer onCompletion) throws Exception {
        List<long[]> prompts = new ArrayList<>();
        for (ArithmeticTask.Problem p : problems) prompts.add(model.encodePrompt(p.question(), true, null));
        SamplingParams params = new SamplingParams(n, TEMPERATURE, TOP_P, 0, 0, maxNewTokens(), List.of(), Set.of(), seed);
        long t0 = System.nanoTime();
        List<Completion> out = sampler.generate(prompts, params, adapter, c -> onCompletion.accept(1));
        double seconds = (System.nanoTime() - t0) / 1e9;
        Reward.PerCompletion format = new Reward.Format();
        int correct = 0, formatted = 0, steps = 0, stepsCorrect = 0;
        long tokens = 0;
        for (Completion c : out) {
            ArithmeticTask.Problem p = problems.get(c.promptIndex());
            boolean ok = grader.grade(String.valueOf(p.answer()), c.text()).correct();
            boolean byStep = stepByStep(c.text());
            if (ok) correct++;
            if (format.score(c.text(), null) > 0) formatted++;
            if (byStep) steps++;
            if (ok && byStep) stepsCorrect++;
            tokens += c.tokenIds().length;
        }
        double total = out.size();
        return new Result(problems.size(), n, correct / total, formatted / total, steps / total,
                steps == 0 ? Double.NaN : (double) stepsCorrect / steps,
                steps == out.size() ? Double.NaN : (double) (correct - stepsCorrect) / (out.size() - steps), tokens, seconds);
    }

    /** Room for the longest solution (4 operands step by step is about 50 tokens). */
    public static int maxNewTokens() { return 72; }

    /** Whether the first line of a completion is a single operation (the step-by-step style). */
    static boolean stepByStep(String completion) {
        int nl = completion.indexOf('\n');
        String first = nl < 0 ? completion : completion.substring(0, nl);
        int ops = 0;
        for (int i = 1; i < first.length(); i++) if (first.charAt(i) == '+' || first.charAt(i) == '-') ops++;
        return ops == 1;
    }
}
