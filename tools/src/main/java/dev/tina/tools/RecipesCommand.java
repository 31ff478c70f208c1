package dev.tina.tools;

import dev.tina.training.grpo.GrpoRecipe;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "recipes", mixinStandardHelpOptions = true,
        description = "List the built-in recipes of Tina's runs (use the name with tina train --recipe NAME --model DIR --dataset FILE).")
final class RecipesCommand implements Callable<Integer> {
    static final List<String> NAMES = List.of("open-rs2", "open-rs3", "limr", "deepscaler", "still3");

    @Override
    public Integer call() throws Exception {
        for (String n : NAMES) {
            String text = text(n);
            GrpoRecipe r = GrpoRecipe.parse(text, "built-in recipe " + n);
            String title = text.lines().findFirst().orElse("").replaceFirst("^# Tina \\(", "").replaceFirst("\\): .*$", "");
            System.out.printf("%-11s %s%n            r=%d α=%.0f dropout=%.2f, lr %.0e %s, %d prompts × %d generations per step, rewards %s × %s, %d steps%n",
                    n, title, r.rank(), r.alpha(), r.dropout(), r.lr(), r.scheduler(), r.microBatch() * r.accumulation() / r.generations(),
                    r.generations(), r.rewards(), r.weights(), r.steps());
        }
        return 0;
    }

    static String text(String name) throws IOException {
        try (InputStream in = RecipesCommand.class.getResourceAsStream("/recipes/" + name + ".yaml")) {
            if (in == null) throw new IllegalArgumentException("no recipe file or built-in recipe '" + name + "'; built-in: " + String.join(", ", NAMES));
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static GrpoRecipe builtIn(String name) throws IOException {
        return GrpoRecipe.parse(text(name), "built-in recipe " + name);
    }
}
