package dev.tina.eval.grading;

import dev.tina.eval.grading.Answer.*;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Puts a union of intervals and finite sets in simplest form, so {@code [1,2] \cup [2,3]} equals {@code [1,3]}
 * and {@code \{1,2\} \cup \{3\}} equals {@code \{1,2,3\}}: finite sets are joined, overlapping or touching
 * intervals merged, points inside an interval absorbed. Endpoints that are not real constants leave it as is.
 */
final class Unions {
    private Unions() {}

    private record Piece(Interval interval, double lo, double hi) {}

    static Answer simplify(Answer.Union u) {
        List<Answer> points = new ArrayList<>();
        List<Piece> pieces = new ArrayList<>();
        for (Answer part : u.parts()) {
            switch (part) {
                case SetOf s -> points.addAll(s.elements());
                case Interval i -> {
                    double lo = real(i.lower()), hi = real(i.upper());
                    if (Double.isNaN(lo) || Double.isNaN(hi)) return u;
                    pieces.add(new Piece(i, lo, hi));
                }
                default -> { return u; }
            }
        }
        pieces.sort(Comparator.comparingDouble(Piece::lo));
        List<Piece> merged = new ArrayList<>();
        for (Piece p : pieces) {
            if (!merged.isEmpty()) {
                Piece last = merged.getLast();
                boolean touch = p.lo() < last.hi() || (p.lo() == last.hi() && (last.interval().upperClosed() || p.interval().lowerClosed()));
                if (touch) {
                    merged.set(merged.size() - 1, join(last, p));
                    continue;
                }
            }
            merged.add(p);
        }
        List<Answer> loose = new ArrayList<>();
        for (Answer pt : points) {
            double x = pt instanceof Answer.Number || pt instanceof Expression ? real(node(pt)) : Double.NaN;
            if (Double.isNaN(x)) { loose.add(pt); continue; }
            boolean absorbed = false;
            for (int k = 0; k < merged.size() && !absorbed; k++) {
                Piece m = merged.get(k);
                Interval i = m.interval();
                if ((x > m.lo() && x < m.hi()) || (x == m.lo() && i.lowerClosed()) || (x == m.hi() && i.upperClosed())) absorbed = true;
                else if (x == m.lo()) { merged.set(k, new Piece(new Interval(i.lower(), i.upper(), true, i.upperClosed()), m.lo(), m.hi())); absorbed = true; }
                else if (x == m.hi()) { merged.set(k, new Piece(new Interval(i.lower(), i.upper(), i.lowerClosed(), true), m.lo(), m.hi())); absorbed = true; }
            }
            if (!absorbed) loose.add(pt);
        }
        List<Answer> parts = new ArrayList<>();
        merged.forEach(m -> parts.add(m.interval()));
        if (!loose.isEmpty()) parts.add(new SetOf(loose));
        return parts.size() == 1 ? parts.getFirst() : new Answer.Union(parts);
    }

    private static Piece join(Piece a, Piece b) {
        Interval x = a.interval(), y = b.interval();
        boolean bHigher = b.hi() > a.hi() || (b.hi() == a.hi() && y.upperClosed());
        Interval i = new Interval(x.lower(), bHigher ? y.upper() : x.upper(),
                x.lowerClosed() || (a.lo() == b.lo() && y.lowerClosed()), bHigher ? y.upperClosed() : x.upperClosed());
        return new Piece(i, a.lo(), Math.max(a.hi(), b.hi()));
    }

    private static Node node(Answer a) {
        return switch (a) {
            case Answer.Number n -> new Node.Num(n.value(), n.decimals());
            case Expression e -> e.node();
            default -> null;
        };
    }

    private static double real(Node n) {
        if (n == null || !Evaluator.isArithmetic(n) || !Evaluator.symbols(n).isEmpty()) return Double.NaN;
        Complex c = Evaluator.numeric(n, Map.of());
        return c.isReal() && !Double.isNaN(c.re()) ? c.re() : Double.NaN;
    }
}
