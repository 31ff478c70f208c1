package dev.tina.eval.grading;

import dev.tina.eval.grading.Node.*;

import java.util.ArrayList;
import java.util.List;

/** Folds sums, scalar multiples and products of matrices into one matrix of expressions ("A + B" as an answer). */
final class MatrixAlgebra {
    private MatrixAlgebra() {}

    static Matrix fold(Node n) {
        Node r = eval(n);
        if (r instanceof Matrix m) return m;
        throw new AnswerParseException("expected a matrix: " + Node.render(n));
    }

    private static Node eval(Node n) {
        return switch (n) {
            case Matrix m -> m;
            case Neg x -> map(eval(x.arg()), Neg::new);
            case Add x -> {
                Node acc = null;
                for (Node t : x.terms()) acc = acc == null ? eval(t) : add(acc, eval(t));
                yield acc;
            }
            case Mul x -> {
                Node acc = null;
                for (Node t : x.factors()) acc = acc == null ? eval(t) : multiply(acc, eval(t));
                yield acc;
            }
            case Div x when !(eval(x.den()) instanceof Matrix) -> {
                Node num = eval(x.num()), den = x.den();
                yield map(num, e -> new Div(e, den));
            }
            default -> {
                if (!Evaluator.isArithmetic(n)) throw new AnswerParseException("cannot compute with " + Node.render(n));
                yield n;
            }
        };
    }

    private static Node map(Node n, java.util.function.UnaryOperator<Node> f) {
        if (!(n instanceof Matrix m)) return f.apply(n);
        return new Matrix(m.rows().stream().map(r -> r.stream().map(f).toList()).toList());
    }

    private static Node add(Node a, Node b) {
        if (a instanceof Matrix x && b instanceof Matrix y) {
            if (x.rows().size() != y.rows().size() || x.rows().getFirst().size() != y.rows().getFirst().size()) {
                throw new AnswerParseException("adding matrices of different shapes");
            }
            List<List<Node>> rows = new ArrayList<>();
            for (int i = 0; i < x.rows().size(); i++) {
                List<Node> row = new ArrayList<>();
                for (int j = 0; j < x.rows().get(i).size(); j++) row.add(new Add(List.of(x.rows().get(i).get(j), y.rows().get(i).get(j))));
                rows.add(row);
            }
            return new Matrix(rows);
        }
        if (a instanceof Matrix || b instanceof Matrix) throw new AnswerParseException("adding a number to a matrix");
        return new Add(List.of(a, b));
    }

    private static Node multiply(Node a, Node b) {
        if (a instanceof Matrix x && b instanceof Matrix y) {
            int n = x.rows().size(), k = x.rows().getFirst().size(), m = y.rows().getFirst().size();
            if (y.rows().size() != k) throw new AnswerParseException("matrix shapes do not multiply");
            List<List<Node>> rows = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                List<Node> row = new ArrayList<>();
                for (int j = 0; j < m; j++) {
                    List<Node> terms = new ArrayList<>();
                    for (int t = 0; t < k; t++) terms.add(new Mul(List.of(x.rows().get(i).get(t), y.rows().get(t).get(j))));
                    row.add(new Add(terms));
                }
                rows.add(row);
            }
            return new Matrix(rows);
        }
        if (a instanceof Matrix) return map(a, e -> new Mul(List.of(e, b)));
        if (b instanceof Matrix) return map(b, e -> new Mul(List.of(a, e)));
        return new Mul(List.of(a, b));
    }
}
