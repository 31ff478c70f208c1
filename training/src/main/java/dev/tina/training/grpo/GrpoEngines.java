package dev.tina.training.grpo;

import dev.tina.export.checkpoint.Projection;
import dev.tina.runtime.LoadedModel;
import dev.tina.training.graph.LossHead;
import dev.tina.training.layered.LayeredGradients;
import dev.tina.training.layered.MemoryBudget;
import dev.tina.training.layered.Recompute;
import dev.tina.training.ort.GradientEngine;

import java.util.List;

/**
 * The two engines of a GRPO run over a model, opened the same way wherever a step runs (the
 * trainer's own process, every Spark executor): the gradient pass (GRPO loss, LoRA dropout,
 * backward) and the reference scorer (the base model's forward without LoRA branches, no dropout,
 * no backward). Both share the model's memory-mapped weights. Closes both.
 */
public record GrpoEngines(GradientEngine gradients, GradientEngine reference) implements AutoCloseable {

    public static GrpoEngines open(GrpoRecipe recipe, LoadedModel model) throws Exception {
        List<Projection> targets = recipe.targets().stream().map(Projection::fromModuleName).toList();
        // the trainer hands a fixed pass; auto here only when a recipe comes unresolved
        Recompute mode = recipe.recomputeDecision(model.config(), MemoryBudget.physicalBytes()).mode();
        String stem = "grpo-r" + recipe.rank() + "-" + targets.size() + "t";
        var gradSpec = new Recompute.Spec(model.exportDir(), model.config(), targets, recipe.rank(), new LossHead.Grpo(), recipe.dropout(), true,
                stem + (recipe.dropout() > 0 ? "-dropout" : ""));
        // the reference is the adapter-off model: a graph without LoRA branches (the same log-probs as
        // lora_scale 0, without computing branches only to multiply them by zero: a sixth of its forward at
        // rank 16 on all seven projections)
        var refSpec = new Recompute.Spec(model.exportDir(), model.config(), List.of(), recipe.rank(), new LossHead.Grpo(), 0.0, false, "grpo-reference");
        LayeredGradients.Options layered = LayeredGradients.Options.defaults();
        GradientEngine gradients = mode.open(gradSpec, model.sharedWeights(), true, recipe.deviceKind(), layered);
        try {
            return new GrpoEngines(gradients, mode.open(refSpec, model.sharedWeights(), true, recipe.deviceKind(), layered));
        } catch (Exception | Error e) {
            gradients.close();
            throw e;
        }
    }

    @Override
    public void close() throws Exception {
        try (gradients; reference) {
            // reference closed first, then gradients
        }
    }
}
