package dev.tina.tools;

import dev.tina.eval.grading.Grader;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.training.tiny.ArithmeticTask;
import dev.tina.training.tiny.HeldOutEval;
import dev.tina.training.tiny.ModelCard;
import dev.tina.training.tiny.TinyPretrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** Remakes the embedded model: {@link TinyPretrainer}, then its held-out scores into a model card. */
@Command(name = "pretrain-tiny", mixinStandardHelpOptions = true,
        description = "Train the embedded tiny reasoning model from scratch (full-parameter SFT on the arithmetic task) and write it with its model card.")
final class PretrainTinyCommand implements Callable<Integer> {
    @Option(names = "--out", defaultValue = "out/tiny-reasoner", description = "model folder to write; default ${DEFAULT-VALUE}")
    Path out;
    @Option(names = "--seed", defaultValue = "1234", description = "initialisation and data seed; default ${DEFAULT-VALUE}")
    long seed;
    @Option(names = "--steps", defaultValue = "3000", description = "optimizer steps; default ${DEFAULT-VALUE}")
    int steps;
    @Option(names = "--batch", defaultValue = "64", description = "sequences per step; default ${DEFAULT-VALUE}")
    int batch;
    @Option(names = "--lr", defaultValue = "3e-3", description = "peak learning rate (cosine to 10%); default ${DEFAULT-VALUE}")
    double lr;
    @Option(names = "--warmup", defaultValue = "100", description = "warm-up steps; default ${DEFAULT-VALUE}")
    int warmup;
    @Option(names = "--eval-problems", defaultValue = "500", description = "held-out problems scored at the end; default ${DEFAULT-VALUE}")
    int evalProblems;

    @Override
    public Integer call() throws Exception {
        var s = new TinyPretrainer.Settings(seed, steps, batch, lr, warmup);
        Path work = out.resolveSibling(out.getFileName() + ".work");
        TinyPretrainer.Result r;
        try (Progress bar = Progress.count("pretrain", steps, "steps")) {
            long[] last = {0};
            r = TinyPretrainer.run(out, work, s, 50, (step, loss, secs) -> {
                bar.accept(step - last[0]);
                last[0] = step;
                System.out.printf(Locale.ROOT, "{\"step\": %d, \"loss\": %.4f, \"seconds\": %.1f}%n", step, loss, secs);
            });
        }
        System.out.printf(Locale.ROOT, "trained %,d parameters, %d steps in %.0f s; scoring %d held-out problems%n",
                r.parameters(), r.steps(), r.seconds(), evalProblems);
        HeldOutEval.Result base;
        try (LoadedModel m = LoadedModel.open(out, SessionSettings.cpu());
             BatchSampler sampler = m.sampler(128);
             AdapterBinding none = m.adapter(null);
             Grader grader = new Grader();
             Progress bar = Progress.count("held-out", evalProblems, "samples")) {
            base = HeldOutEval.run(m, sampler, none, ArithmeticTask.heldOut(evalProblems), 1, seed, grader, bar::accept);
        }
        System.out.printf(Locale.ROOT, "held-out accuracy %.3f, format %.3f, step-by-step %.3f (temperature %.1f, top-p %.2f)%n",
                base.accuracy(), base.formatRate(), base.stepByStepRate(), HeldOutEval.TEMPERATURE, HeldOutEval.TOP_P);
        ModelCard.write(out, s, r, base);
        System.out.println("wrote " + out + " (model card: " + out.resolve("README.md") + ")");
        return 0;
    }
}
