package dev.tina.eval.grading;

import java.util.List;
import java.util.stream.Collectors;

/** What an answer is, once read: the kinds {@link Equivalence} compares. */
sealed interface Answer {

    /** A plain numeric literal; {@code decimals} as in {@link Node.Num}. */
    record Number(Rational value, int decimals, boolean percent) implements Answer {}

    /** Any other arithmetic: radicals, π, symbols, functions. */
    record Expression(Node node) implements Answer {}

    /** An equation, inequality or chain of them ({@code x = 5}, {@code 1 < x \le 3}). */
    record Relation(List<Node> operands, List<Node.RelOp> ops) implements Answer {
        boolean isEquation() { return ops.stream().allMatch(o -> o == Node.RelOp.EQ); }

        /** An equation whose left side is a name: {@code x = 5}, {@code f(x) = 2x}, {@code (p,q) = (3,2)}. */
        boolean isAssignment() { return isEquation() && Evaluator.onlySymbols(operands.getFirst()); }

        Node first() { return operands.getFirst(); }

        Node last() { return operands.getLast(); }
    }

    /** Unordered, duplicates ignored; also a bare list of answers ("1, 2 and 3"). */
    record SetOf(List<Answer> elements) implements Answer {}

    /** Ordered: points, vectors, ordered pairs. */
    record Tuple(List<Answer> elements) implements Answer {}

    record Interval(Node lower, Node upper, boolean lowerClosed, boolean upperClosed) implements Answer {}

    record Union(List<Answer> parts) implements Answer {}

    record Matrix(List<List<Node>> rows) implements Answer {}

    /** A word answer ("odd", "no solution"). */
    record Text(String text) implements Answer {}

    /** A multiple-choice letter. */
    record Choice(char letter) implements Answer {}

    /** A numeral written in another base ({@code 204_5}). */
    record Numeral(String digits, int base) implements Answer {}

    /** Canonical text of the answer (what reports show as "parsed"). */
    default String display() {
        return switch (this) {
            case Number n -> n.value() + (n.percent() ? "%" : "");
            case Expression e -> Node.render(e.node());
            case Relation r -> Node.render(new Node.Rel(r.operands(), r.ops()));
            case SetOf s -> "{" + s.elements().stream().map(Answer::display).collect(Collectors.joining(", ")) + "}";
            case Tuple t -> "(" + t.elements().stream().map(Answer::display).collect(Collectors.joining(", ")) + ")";
            case Interval i -> (i.lowerClosed() ? "[" : "(") + Node.render(i.lower()) + ", " + Node.render(i.upper()) + (i.upperClosed() ? "]" : ")");
            case Union u -> u.parts().stream().map(Answer::display).collect(Collectors.joining(" ∪ "));
            case Matrix m -> Node.render(new Node.Matrix(m.rows()));
            case Text t -> t.text();
            case Choice c -> String.valueOf(c.letter());
            case Numeral n -> n.digits() + "_" + n.base();
        };
    }
}
