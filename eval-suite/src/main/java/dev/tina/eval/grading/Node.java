package dev.tina.eval.grading;

import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The parsed form of an answer: arithmetic ({@link Num} … {@link Percent}) and the structure around it
 * (tuples, sets, relations, matrices, text). {@link AnswerParser} turns the structure into an
 * {@link Answer}; {@link Evaluator} computes with the arithmetic.
 */
sealed interface Node {

    /** A literal; {@code decimals} is the number of digits written after the point, -1 for an exact literal. */
    record Num(Rational value, int decimals) implements Node {}

    record Sym(String name) implements Node {}

    record Const(Kind kind) implements Node {
        enum Kind { PI, E, I, INFINITY }
    }

    record Add(List<Node> terms) implements Node {}

    record Neg(Node arg) implements Node {}

    record Mul(List<Node> factors) implements Node {}

    record Div(Node num, Node den) implements Node {}

    record Pow(Node base, Node exp) implements Node {}

    /** A function: one of {@link #KNOWN} or an undefined one such as {@code f(x)}. */
    record Fn(String name, List<Node> args) implements Node {
        static final Set<String> KNOWN = Set.of("sqrt", "root", "sin", "cos", "tan", "cot", "sec", "csc", "arcsin",
                "arccos", "arctan", "sinh", "cosh", "tanh", "ln", "log", "exp", "abs", "floor", "ceil", "factorial",
                "factorial2", "binom", "gcd", "lcm", "max", "min");

        boolean known() { return KNOWN.contains(name); }
    }

    /** {@code left ± right}; {@code left} is null for a leading ±. */
    record PlusMinus(Node left, Node right, boolean minusFirst) implements Node {}

    record Percent(Node arg) implements Node {}

    /** A bracketed list: a tuple, or an interval when the brackets say so. */
    record Bracket(char open, List<Node> items, char close) implements Node {}

    record SetLit(List<Node> items) implements Node {}

    record Union(List<Node> parts) implements Node {}

    record Rel(List<Node> operands, List<RelOp> ops) implements Node {}

    enum RelOp {
        EQ("="), LT("<"), LE("\\le"), GT(">"), GE("\\ge"), NE("\\ne"), IN("\\in"), APPROX("\\approx");

        final String latex;

        RelOp(String latex) { this.latex = latex; }

        RelOp flipped() {
            return switch (this) { case LT -> GT; case GT -> LT; case LE -> GE; case GE -> LE; default -> this; };
        }

        boolean isInequality() { return this == LT || this == LE || this == GT || this == GE; }
    }

    record Matrix(List<List<Node>> rows) implements Node {}

    record Text(String text) implements Node {}

    /** A numeral in another base, {@code 1011_2}. */
    record Numeral(String digits, String base) implements Node {}

    /** A bare comma list ("1, 2, 3"). */
    record Seq(List<Node> items) implements Node {}

    /** Semicolon-separated groups ("p=5,q=2; p=7,q=2"). */
    record Groups(List<Node> groups) implements Node {}

    private static String atom(Node n) {
        String r = render(n);
        boolean simple = n instanceof Sym || n instanceof Const || n instanceof Fn || n instanceof Add || n instanceof Mul
                || (n instanceof Num x && x.value().signum() >= 0 && x.value().isInteger());
        return simple ? r : "(" + r + ")";
    }

    /** A canonical, readable rendering (also the key for "the same written answer"). */
    static String render(Node n) {
        return switch (n) {
            case Num x -> x.value().toString() + (x.decimals() > 0 ? "~" + x.decimals() : "");
            case Sym x -> x.name();
            case Const x -> switch (x.kind()) { case PI -> "\\pi"; case E -> "e"; case I -> "i"; case INFINITY -> "\\infty"; };
            case Add x -> "(" + x.terms().stream().map(Node::render).collect(Collectors.joining("+")) + ")";
            case Neg x -> "-" + render(x.arg());
            case Mul x -> "(" + x.factors().stream().map(Node::render).collect(Collectors.joining("*")) + ")";
            case Div x -> atom(x.num()) + "/" + atom(x.den());
            case Pow x -> atom(x.base()) + "^" + atom(x.exp());
            case Fn x -> x.name() + "(" + x.args().stream().map(Node::render).collect(Collectors.joining(",")) + ")";
            case PlusMinus x -> (x.left() == null ? "" : render(x.left())) + (x.minusFirst() ? "\\mp " : "\\pm ") + render(x.right());
            case Percent x -> render(x.arg()) + "%";
            case Bracket x -> x.open() + x.items().stream().map(Node::render).collect(Collectors.joining(",")) + x.close();
            case SetLit x -> "{" + x.items().stream().map(Node::render).collect(Collectors.joining(",")) + "}";
            case Union x -> x.parts().stream().map(Node::render).collect(Collectors.joining(" \\cup "));
            case Rel x -> {
                StringBuilder b = new StringBuilder(render(x.operands().getFirst()));
                for (int i = 0; i < x.ops().size(); i++) b.append(' ').append(x.ops().get(i).latex).append(' ').append(render(x.operands().get(i + 1)));
                yield b.toString();
            }
            case Matrix x -> "[" + x.rows().stream().map(r -> r.stream().map(Node::render).collect(Collectors.joining(","))).collect(Collectors.joining(";")) + "]";
            case Text x -> "\\text{" + x.text() + "}";
            case Numeral x -> x.digits() + "_" + x.base();
            case Seq x -> x.items().stream().map(Node::render).collect(Collectors.joining(", "));
            case Groups x -> x.groups().stream().map(Node::render).collect(Collectors.joining("; "));
        };
    }
}
