package dev.tina.eval.grading;

import java.util.List;

/**
 * Why a grade came out as it did ({@code tina grade --explain}).
 *
 * @param result          the grade itself
 * @param goldExtracted   the gold text that was read (its box, its LaTeX span or the whole), null when none
 * @param goldParsed      the gold's canonical form and kind ("number 5/2"), or why it could not be read
 * @param extracted       the completion's answer text that was compared, null when none
 * @param source          where in the completion it was found (boxed, final_answer, …), null when none
 * @param predictionParsed the prediction's canonical form and kind, or why it could not be read
 * @param tried           the candidates tried before it, each with why it was passed over
 * @param rules           the comparison rules applied, innermost indented, ending with the deciding one
 */
public record Explanation(GradeResult result, String goldExtracted, String goldParsed, String extracted, String source,
                          String predictionParsed, List<String> tried, List<String> rules) {
    public Explanation {
        if (result == null) throw new IllegalArgumentException("result is required");
        tried = List.copyOf(tried);
        rules = List.copyOf(rules);
    }

    /** "number 5/2", "interval [1, 2)", …: the kind of a parsed answer and its canonical text. */
    static String describe(Answer a) {
        String kind = switch (a) {
            case Answer.Number n -> n.percent() ? "percentage" : "number";
            case Answer.Expression e -> "expression";
            case Answer.Relation r -> r.isEquation() ? "equation" : "inequality";
            case Answer.SetOf s -> "set";
            case Answer.Tuple t -> "tuple";
            case Answer.Interval i -> "interval";
            case Answer.Union u -> "union";
            case Answer.Matrix m -> "matrix";
            case Answer.Text t -> "text";
            case Answer.Choice c -> "choice";
            case Answer.Numeral n -> "numeral";
        };
        return kind + " " + a.display();
    }
}
