package dev.tina.training.grpo;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.eval.tracking.EventFileWriter;
import dev.tina.eval.tracking.proto.TensorBoardProtos.Summary;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntFunction;

import static dev.tina.eval.tracking.Markdown.code;
import static dev.tina.eval.tracking.Markdown.cut;
import static dev.tina.eval.tracking.Markdown.escape;

/**
 * A GRPO step as TensorBoard summaries: each numeric metric a scalar under {@code train/} (TRL's
 * prefix), the step's sample completions as one Markdown text.
 */
final class TrainEvents {
    static final String PREFIX = "train/";
    static final String COMPLETIONS_TAG = "train/completions";
    /** TensorBoard keeps text tensors small (a few kilobytes): a long completion is cut, its length said. */
    static final int MAX_CHARS = 4000;

    private TrainEvents() {}

    static List<Summary.Value> of(ObjectNode metrics, String completions) {
        List<Summary.Value> values = new ArrayList<>();
        metrics.properties().forEach(e -> {
            if (!e.getKey().equals("step") && e.getValue().isNumber()) values.add(EventFileWriter.scalar(PREFIX + e.getKey(), e.getValue().asDouble()));
        });
        if (completions != null) values.add(EventFileWriter.text(COMPLETIONS_TAG, completions));
        return values;
    }

    /** The samples as Markdown: a header line per sample, then problem, gold and completion as code blocks (shown verbatim). */
    static String completions(List<SliceResult.Sample> samples, IntFunction<PromptDataset.Row> row, List<String> rewardNames) {
        if (samples.isEmpty()) return null;
        StringBuilder sb = new StringBuilder();
        for (SliceResult.Sample s : samples) {
            PromptDataset.Row r = row.apply(s.prompt());
            sb.append("**prompt ").append(s.prompt() + 1).append("** · reward ").append(num(s.total()));
            List<String> parts = new ArrayList<>();
            for (int i = 0; i < s.perReward().length && i < rewardNames.size(); i++) parts.add(escape(rewardNames.get(i)) + " " + num(s.perReward()[i]));
            if (!parts.isEmpty()) sb.append(" (").append(String.join(" · ", parts)).append(')');
            sb.append("\n\n").append(code(r.problem() + "\ngold: " + r.answer())).append("\ncompletion:\n\n").append(code(cut(s.completion(), MAX_CHARS))).append('\n');
        }
        return sb.toString();
    }

    private static String num(double v) { return String.format(Locale.ROOT, "%.3f", v); }
}
