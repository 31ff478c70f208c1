package dev.tina.training.ort;

import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.training.autodiff.GradientBuilder;
import dev.tina.training.graph.LossHead;
import dev.tina.training.graph.TrainingGraph;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.tina.export.onnx.GraphBuilder.BOOL;
import static dev.tina.export.onnx.GraphBuilder.FLOAT;
import static dev.tina.export.onnx.GraphBuilder.INT64;
import static dev.tina.export.onnx.GraphBuilder.attr;

/**
 * The three graphs ONNX Runtime's training session takes, written beside an export (their base
 * weights point into its {@code model.onnx.data}):
 * <ul>
 *   <li>training: forward, loss, backward; each LoRA factor P's gradient accumulated with
 *       {@code InPlaceAccumulatorV2(P_grad.accumulation.buffer, P_grad, lazy_reset_grad)}; inputs
 *       in the order ONNX Runtime expects (user inputs, parameters, gradient buffers,
 *       {@code lazy_reset_grad}); outputs the loss first, then {@code logps}, {@code kl} (GRPO),
 *       then the accumulation flags;</li>
 *   <li>eval: reads the parameters back ({@code param.<name>} outputs) — the Java API has no
 *       other way to get them, and the sampler needs them after every optimizer step;</li>
 *   <li>optimizer: {@code AdamWOptimizer} (PyTorch's AdamW: {@code adam_mode} 0, bias correction on).</li>
 * </ul>
 */
public final class TrainingArtifacts {
    public static final String LAZY_RESET = "lazy_reset_grad";
    public static final String PARAM_OUT = "param.";

    /**
     * AdamW settings. No gradient clipping here: clipping inside the optimizer graph (ONNX
     * Runtime's {@code InplaceClipGradNorm}, and also a standard-op version feeding
     * {@code AdamWOptimizer} a rebuilt gradient sequence) made identical runs differ at the 1e-7
     * level, which breaks exact resumption; see the README.
     */
    public record Optimizer(double beta1, double beta2, double epsilon, double weightDecay) {
        public Optimizer {
            if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("AdamW betas must be in [0, 1)");
            if (!(epsilon > 0)) throw new IllegalArgumentException("AdamW epsilon must be > 0");
            if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight_decay must be >= 0");
        }

        /** TRL/transformers defaults: (0.9, 0.999), eps 1e-8, weight decay 0. */
        public static Optimizer defaults() { return new Optimizer(0.9, 0.999, 1e-8, 0.0); }
    }

    public record Files(Path train, Path eval, Path optimizer, List<String> params, ModelConfig config, int rank) {}

    private TrainingArtifacts() {}

    public static Files write(Path exportDir, String prefix, int rank, List<Projection> targets, LossHead head, Optimizer opt)
            throws Exception {
        var pass = TrainingGraph.forwardAndBackward(exportDir, rank, targets, head);
        GraphBuilder g = pass.g();
        List<String> params = pass.params();
        List<String> flags = new ArrayList<>();
        try (var s = g.scope("accumulate")) {
            for (String p : params) g.input(p + "_grad.accumulation.buffer", FLOAT, (Object[]) boxed(TrainingGraph.paramShape(pass.config(), p, rank)));
            g.input(LAZY_RESET, BOOL, 1);
            for (String p : params) {
                String out = p + "_grad.accumulation.out";
                g.opDomain(GradientBuilder.MS, "InPlaceAccumulatorV2", out,
                        List.of(p + "_grad.accumulation.buffer", pass.gradients().get(p), LAZY_RESET));
                flags.add(out);
            }
        }
        for (String f : flags) g.output(f, BOOL, 1);
        Path train = TrainingGraph.write(exportDir, prefix + ".train.onnx", g);

        GraphBuilder e = new GraphBuilder("tina_lora_readout", null);
        for (String p : params) {
            e.input(p, FLOAT, (Object[]) boxed(TrainingGraph.paramShape(pass.config(), p, rank)));
            e.opNamed("Identity", PARAM_OUT + p, List.of(p));
            e.output(PARAM_OUT + p, FLOAT, (Object[]) boxed(TrainingGraph.paramShape(pass.config(), p, rank)));
        }
        Path eval = TrainingGraph.write(exportDir, prefix + ".eval.onnx", e);

        GraphBuilder o = new GraphBuilder("tina_adamw", null);
        o.input("learning_rate", FLOAT, 1);
        o.input("step", INT64, 1);
        for (String seq : List.of("params", "gradients", "first_order_moments", "second_order_moments")) o.inputSequence(seq, FLOAT);
        o.opDomain(GradientBuilder.MS, "AdamWOptimizer", "updated_flag",
                List.of("learning_rate", "step", "params", "gradients", "first_order_moments", "second_order_moments"),
                attr("alpha", (float) opt.beta1()), attr("beta", (float) opt.beta2()), attr("epsilon", (float) opt.epsilon()),
                attr("weight_decay", (float) opt.weightDecay()), attr("correct_bias", 1L), attr("adam_mode", 0L));
        o.output("updated_flag", BOOL, 1); // bool in ORT 1.24 (later schemas changed it to int64)
        Path optimizer = TrainingGraph.write(exportDir, prefix + ".optim.onnx", o);
        return new Files(train, eval, optimizer, params, pass.config(), rank);
    }

    private static Long[] boxed(long[] v) {
        Long[] out = new Long[v.length];
        for (int i = 0; i < v.length; i++) out[i] = v[i];
        return out;
    }
}
