package dev.tina.eval.grading;

import dev.tina.eval.grading.Answer.*;
import dev.tina.eval.grading.Node.*;

import java.util.List;
import java.util.Optional;

/**
 * The set a one-variable relation describes, so "{@code -793 < a < 10}" can equal "{@code (-793, 10)}" and
 * "{@code 1 \le |z| \le 3/2}" can equal "{@code [-3/2, -1] \cup [1, 3/2]}". Covers bounds on a name
 * (x, f(x), |z|) by constants; anything else stays a relation.
 */
final class RelationSets {
    private RelationSets() {}

    private static final Node INF = new Const(Const.Kind.INFINITY);
    private static final Node NEG_INF = new Neg(INF);

    static Optional<Answer> toSet(Relation r) {
        List<Node> o = r.operands();
        List<RelOp> ops = r.ops();
        if (ops.size() == 1) {
            Node a = o.get(0), b = o.get(1);
            RelOp op = ops.getFirst();
            if (isVariable(a) && isConstant(b)) return bound(a, op, b);
            if (isConstant(a) && isVariable(b)) return bound(b, op.flipped(), a);
            return Optional.empty();
        }
        if (ops.size() == 2 && isConstant(o.get(0)) && isVariable(o.get(1)) && isConstant(o.get(2))) {
            RelOp p = ops.get(0), q = ops.get(1);
            Interval set;
            if (isLess(p) && isLess(q)) set = new Interval(o.get(0), o.get(2), p == RelOp.LE, q == RelOp.LE);
            else if (isGreater(p) && isGreater(q)) set = new Interval(o.get(2), o.get(0), q == RelOp.GE, p == RelOp.GE);
            else return Optional.empty();
            return Optional.of(unwrapAbs(o.get(1), set));
        }
        return Optional.empty();
    }

    private static Optional<Answer> bound(Node var, RelOp op, Node c) {
        Answer set = switch (op) {
            case LT -> new Interval(NEG_INF, c, false, false);
            case LE -> new Interval(NEG_INF, c, false, true);
            case GT -> new Interval(c, INF, false, false);
            case GE -> new Interval(c, INF, true, false);
            case EQ -> new SetOf(List.of(AnswerParser.toAnswer(c)));
            case NE -> new Answer.Union(List.of(new Interval(NEG_INF, c, false, false), new Interval(c, INF, false, false)));
            default -> null;
        };
        if (set == null) return Optional.empty();
        return Optional.of(set instanceof Interval i ? unwrapAbs(var, i) : set);
    }

    /** |w| ∈ [a, b] → w ∈ [-b, -a] ∪ [a, b] (or one interval when a ≤ 0). */
    private static Answer unwrapAbs(Node var, Interval s) {
        if (!(var instanceof Fn f && f.name().equals("abs"))) return s;
        Rational lo = Evaluator.isInfinite(s.lower()) ? null : Evaluator.exact(s.lower());
        if (Evaluator.isInfinite(s.upper())) {
            if (lo == null || lo.signum() < 0) return new Interval(NEG_INF, INF, false, false);
            return new Answer.Union(List.of(new Interval(NEG_INF, new Neg(s.lower()), false, s.lowerClosed()),
                    new Interval(s.lower(), INF, s.lowerClosed(), false)));
        }
        Node negHi = new Neg(s.upper());
        if (lo == null || lo.signum() < 0 || (lo.signum() == 0 && s.lowerClosed())) {
            return new Interval(negHi, s.upper(), s.upperClosed(), s.upperClosed());
        }
        return new Answer.Union(List.of(new Interval(negHi, new Neg(s.lower()), s.upperClosed(), s.lowerClosed()),
                new Interval(s.lower(), s.upper(), s.lowerClosed(), s.upperClosed())));
    }

    private static boolean isLess(RelOp op) { return op == RelOp.LT || op == RelOp.LE; }

    private static boolean isGreater(RelOp op) { return op == RelOp.GT || op == RelOp.GE; }

    private static boolean isVariable(Node n) { return Evaluator.onlySymbols(n); }

    private static boolean isConstant(Node n) {
        return Evaluator.isArithmetic(n) && Evaluator.symbols(n).isEmpty();
    }
}
