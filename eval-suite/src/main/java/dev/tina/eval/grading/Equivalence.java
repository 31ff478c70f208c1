package dev.tina.eval.grading;

import dev.tina.eval.grading.Answer.*;
import dev.tina.eval.grading.Node.*;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Decides whether a prediction means the same as the gold answer.
 *
 * <ul>
 *   <li>Labels are dropped the way established graders do it: {@code x = 5} vs {@code 5}, {@code (p,q)=(3,2)} vs
 *       {@code (3,2)}; {@code 2x + z = 1} vs {@code 1} stays unequal (that left side is not a name).</li>
 *   <li>Sets are unordered (duplicates ignored), tuples and intervals ordered; a gold tuple against a bare list
 *       compares in the order written; an open interval equals the pair of its endpoints.</li>
 *   <li>Numbers: exact over the rationals. A decimal matches when it agrees to six places (and relatively, so
 *       7.4e-12 is not 0), or where no exact decimal exists: a prediction correctly rounded to at least two
 *       places for a gold fraction without a terminating decimal (0.33 for 1/3; not 0.13 for 1/8, not 3.14 for
 *       π), an exact prediction for a gold given rounded (70/9 for 7.78).</li>
 *   <li>Expressions: evaluated at random points (complex, principal branches); that decides whenever it can,
 *       since the CAS cannot prove some identities (n! = n·(n-1)!). Where it cannot decide (values beyond
 *       doubles, undefined at every point) the CAS is asked whether the difference is zero; a CAS "zero" never
 *       overrides a concrete counterexample.</li>
 *   <li>Percentages: 28% equals 28% and 0.28, and 28 (the sign left off), as established graders allow.</li>
 * </ul>
 */
final class Equivalence {
    private Equivalence() {}

    private static final double SAMPLE_TOLERANCE = 1e-8;
    private static final double CONSTANT_TOLERANCE = 1e-9;
    /** Agreement to six decimal places (Math-Verify's default {@code float_rounding}). */
    private static final double SIX_PLACES = 5e-7;
    private static final double SIX_PLACES_RELATIVE = 1e-4;
    /** A rounded decimal is at most this far off relatively (0.33 for 1/3 is 1%; 0.01 for 1/70 is not a rounding). */
    private static final double ROUNDING_RELATIVE = 0.05;
    private static final int SAMPLE_POINTS = 8;
    private static final int MAX_MATCHING = 12;

    private enum Probe { EQUAL, DIFFERENT, INCONCLUSIVE }

    static boolean equivalent(Answer gold, Answer pred) {
        Interrupts.check();
        Trace.enter();
        try {
            boolean same = decide(gold, pred);
            Trace.rule((same ? "equal: " : "different: ") + gold.display() + " vs " + pred.display());
            return same;
        } finally {
            Trace.exit();
        }
    }

    private static boolean decide(Answer gold, Answer pred) {
        Answer g = gold, p = pred;
        Conventions conv = Trace.conventions();
        if (g instanceof Relation r && r.isAssignment()) g = ends(r);
        if (p instanceof Relation r && r.isAssignment()) p = ends(r);
        try {
            if (p instanceof Relation r && r.isEquation() && !(g instanceof Relation) && !statesACondition(r)) {
                Trace.rule("the prediction's equation gives its right side");
                p = AnswerParser.toAnswer(r.last());
            } else if (g instanceof Relation r && r.isAssignment() && !(p instanceof Relation)) {
                Trace.rule("the gold names a variable: its right side is the answer");
                g = AnswerParser.toAnswer(r.last());
            }
        } catch (AnswerParseException e) {
            return false;
        }
        if (g instanceof Relation r && !r.isEquation() && isSetLike(p)) {
            Trace.rule("the gold inequality read as a set");
            g = RelationSets.toSet(r).orElse(g);
        }
        if (conv.setMatchesRelation() && p instanceof Relation r && !r.isEquation() && isSetLike(g)) {
            Trace.rule("the predicted inequality read as a set");
            p = RelationSets.toSet(r).orElse(p);
        }
        if (isSetLike(p) && !(p instanceof SetOf)) g = inequalitiesAsUnion(g);
        if (conv.setMatchesRelation() && isSetLike(g) && !(g instanceof SetOf)) p = inequalitiesAsUnion(p);
        if (g instanceof Answer.Union u) g = Unions.simplify(u);
        if (p instanceof Answer.Union u) p = Unions.simplify(u);
        return compare(g, p);
    }

    /** "y' + ry = 0", "x^2 - 4 = 0": an expression set to zero is a condition to solve, not the value 0. */
    private static boolean statesACondition(Relation r) {
        return r.operands().size() == 2 && !Evaluator.onlySymbols(r.first()) && !Evaluator.symbols(r.first()).isEmpty()
                && Evaluator.exact(r.last()) instanceof Rational z && z.signum() == 0;
    }

    /** "x < -2 or x > 2" (a list of inequalities in one name) is the union of their sets, when they do not overlap. */
    private static Answer inequalitiesAsUnion(Answer a) {
        if (!(a instanceof SetOf s) || s.elements().size() < 2) return a;
        List<Answer> parts = new ArrayList<>();
        Set<String> names = null;
        for (Answer e : s.elements()) {
            if (!(e instanceof Relation r) || r.isEquation()) return a;
            if (names == null) names = names(r);
            else if (!names.equals(names(r))) return a;
            var set = RelationSets.toSet(r);
            if (set.isEmpty()) return a;
            parts.add(set.get());
        }
        Answer u = Unions.simplify(new Answer.Union(parts));
        return u instanceof Answer.Union joined && joined.parts().size() == parts.size() ? u : a;
    }

    private static Relation ends(Relation r) {
        return r.operands().size() == 2 ? r : new Relation(List.of(r.first(), r.last()), List.of(RelOp.EQ));
    }

    private static boolean isSetLike(Answer a) {
        return a instanceof Interval || a instanceof Answer.Union || a instanceof SetOf || a instanceof Tuple t && t.elements().size() == 2;
    }

    private static boolean compare(Answer g, Answer p) {
        if (g instanceof SetOf gs && p instanceof SetOf ps) return sets(gs.elements(), ps.elements());
        if (g instanceof Tuple gt && p instanceof SetOf ps) return tupleVsList(gt, ps);
        if (g instanceof SetOf gs && p instanceof Tuple pt) return sets(gs.elements(), pt.elements());
        if (g instanceof SetOf gs && !(p instanceof SetOf)) {
            List<Answer> d = distinct(gs.elements());
            return d.size() == 1 && equivalent(d.getFirst(), p);
        }
        if (g instanceof Answer.Matrix gm && p instanceof SetOf ps && rowsOf(ps) instanceof Answer.Matrix pm) {
            Trace.rule("nested braces read as matrix rows ({{1,2},{3,4}})");
            return matrices(gm, pm);
        }
        if (p instanceof SetOf ps) {
            List<Answer> d = distinct(ps.elements());
            return d.size() == 1 && equivalent(g, d.getFirst());
        }
        return switch (g) {
            case Tuple gt when p instanceof Tuple pt -> ordered(gt.elements(), pt.elements());
            case Tuple gt when p instanceof Interval pi -> pairIsOpenInterval(gt, pi);
            case Tuple gt when p instanceof Answer.Matrix pm -> vector(pm, gt);
            case Interval gi when p instanceof Interval pi -> gi.lowerClosed() == pi.lowerClosed() && gi.upperClosed() == pi.upperClosed()
                    && values(gi.lower(), pi.lower()) && values(gi.upper(), pi.upper());
            case Interval gi when p instanceof Tuple pt -> pairIsOpenInterval(pt, gi);
            case Answer.Union gu when p instanceof Answer.Union pu -> sets(gu.parts(), pu.parts());
            case Answer.Matrix gm when p instanceof Answer.Matrix pm -> matrices(gm, pm);
            case Answer.Matrix gm when p instanceof Tuple pt -> vector(gm, pt);
            // "[1, 2]" for a vector gold is the vector written as a list, not the closed interval
            case Answer.Matrix gm when p instanceof Interval pi && pi.lowerClosed() && pi.upperClosed() ->
                    vector(gm, new Tuple(List.of(new Expression(pi.lower()), new Expression(pi.upper()))));
            case Relation gr when p instanceof Relation pr -> relations(gr, pr);
            case Answer.Text gt -> text(gt.text(), p);
            case Choice gc -> choice(gc.letter(), p);
            case Answer.Numeral gn -> numeral(gn, p);
            default -> {
                if (p instanceof Answer.Text pt) yield text(pt.text(), g);
                // a gold in base ten against a numeral the model wrote in another base: a different answer (40_9 is not
                // 40, and 52_8 answers "in base 8", not 42); 42_{10} is 42
                if (p instanceof Answer.Numeral pn) yield pn.base() == 10 && g instanceof Answer.Number gn && numeralValue(pn) instanceof Rational v && v.equals(gn.value());
                Node a = scalar(g), b = scalar(p);
                yield a != null && b != null && values(a, b);
            }
        };
    }

    private static Node scalar(Answer a) {
        return switch (a) {
            case Answer.Number n -> {
                Node num = new Num(n.value(), n.decimals());
                yield n.percent() ? new Percent(num) : num;
            }
            case Expression e -> e.node();
            default -> null;
        };
    }

    // ---------------------------------------------------------------- collections

    private static List<Answer> distinct(List<Answer> xs) {
        List<Answer> out = new ArrayList<>();
        for (Answer x : xs) {
            boolean seen = false;
            for (Answer y : out) if (equivalent(y, x)) { seen = true; break; }
            if (!seen) out.add(x);
        }
        return out;
    }

    /** Unordered: a perfect matching between distinct elements. */
    private static boolean sets(List<Answer> gold, List<Answer> pred) {
        List<Answer> g = distinct(gold), p = distinct(pred);
        if (g.size() != p.size()) return false;
        if (g.size() > MAX_MATCHING) { // greedy beyond this size: equivalence is close to transitive
            boolean[] used = new boolean[p.size()];
            outer:
            for (Answer x : g) {
                for (int j = 0; j < p.size(); j++) if (!used[j] && equivalent(x, p.get(j))) { used[j] = true; continue outer; }
                return false;
            }
            return true;
        }
        Boolean[][] memo = new Boolean[g.size()][p.size()];
        return match(g, p, 0, new boolean[p.size()], memo);
    }

    private static boolean match(List<Answer> g, List<Answer> p, int i, boolean[] used, Boolean[][] memo) {
        if (i == g.size()) return true;
        for (int j = 0; j < p.size(); j++) {
            if (used[j]) continue;
            if (memo[i][j] == null) memo[i][j] = equivalent(g.get(i), p.get(j));
            if (memo[i][j]) {
                used[j] = true;
                if (match(g, p, i + 1, used, memo)) return true;
                used[j] = false;
            }
        }
        return false;
    }

    private static boolean ordered(List<Answer> g, List<Answer> p) {
        if (g.size() != p.size()) return false;
        for (int i = 0; i < g.size(); i++) if (!equivalent(g.get(i), p.get(i))) return false;
        return true;
    }

    /** A gold tuple against a bare list: in the order written ("x=1, y=2" gives the values in order). */
    private static boolean tupleVsList(Tuple g, SetOf p) {
        return ordered(g.elements(), p.elements());
    }

    private static boolean pairIsOpenInterval(Tuple t, Interval i) {
        if (t.elements().size() != 2 || i.lowerClosed() || i.upperClosed()) return false;
        Node lo = scalar(t.elements().get(0)), hi = scalar(t.elements().get(1));
        return lo != null && hi != null && values(lo, i.lower()) && values(hi, i.upper());
    }

    /** {@code \{\{1,2\},\{3,4\}\}}: a list of equally long lists of values, as a matrix; null otherwise. */
    private static Answer.Matrix rowsOf(SetOf s) {
        List<List<Node>> rows = new ArrayList<>();
        for (Answer e : s.elements()) {
            List<Answer> items = e instanceof SetOf r ? r.elements() : List.of(e);
            List<Node> row = new ArrayList<>();
            for (Answer x : items) {
                Node n = scalar(x);
                if (n == null) return null;
                row.add(n);
            }
            if (!rows.isEmpty() && rows.getFirst().size() != row.size()) return null;
            rows.add(row);
        }
        return rows.size() >= 1 && s.elements().stream().allMatch(e -> e instanceof SetOf) ? new Answer.Matrix(rows) : null;
    }

    private static boolean matrices(Answer.Matrix g, Answer.Matrix p) {
        if (g.rows().size() != p.rows().size()) return false;
        for (int i = 0; i < g.rows().size(); i++) {
            List<Node> a = g.rows().get(i), b = p.rows().get(i);
            if (a.size() != b.size()) return false;
            for (int j = 0; j < a.size(); j++) if (!values(a.get(j), b.get(j))) return false;
        }
        return true;
    }

    /** A column or row vector written as a tuple. */
    private static boolean vector(Answer.Matrix m, Tuple t) {
        List<Node> entries = new ArrayList<>();
        if (m.rows().size() == 1) entries.addAll(m.rows().getFirst());
        else if (m.rows().stream().allMatch(r -> r.size() == 1)) m.rows().forEach(r -> entries.add(r.getFirst()));
        else return false;
        if (entries.size() != t.elements().size()) return false;
        for (int i = 0; i < entries.size(); i++) {
            Node b = scalar(t.elements().get(i));
            if (b == null || !values(entries.get(i), b)) return false;
        }
        return true;
    }

    // ---------------------------------------------------------------- relations

    private static boolean relations(Relation g, Relation p) {
        if (g.ops().size() == p.ops().size()) {
            boolean all = true;
            for (int i = 0; i < g.ops().size() && all; i++) {
                all = single(g.ops().get(i), g.operands().get(i), g.operands().get(i + 1), p.ops().get(i), p.operands().get(i), p.operands().get(i + 1), g.isAssignment() && p.isAssignment());
            }
            if (all) return true;
        }
        if (g.isEquation() || p.isEquation() || !names(g).equals(names(p))) return false;
        var gs = RelationSets.toSet(g);
        var ps = RelationSets.toSet(p);
        return gs.isPresent() && ps.isPresent() && compare(gs.get(), ps.get());
    }

    private static Set<String> names(Relation r) {
        Set<String> out = new LinkedHashSet<>();
        r.operands().forEach(o -> out.addAll(Evaluator.symbols(o)));
        return out;
    }

    private static boolean single(RelOp og, Node lg, Node rg, RelOp op, Node lp, Node rp, boolean assignments) {
        if (assignments) {
            if (lg instanceof Bracket || lp instanceof Bracket || rg instanceof Bracket || rp instanceof Bracket) {
                return Node.render(lg).equals(Node.render(lp)) && equivalent(AnswerParser.toAnswer(rg), AnswerParser.toAnswer(rp));
            }
            if (values(lg, lp) && values(rg, rp)) return true;
            Map<String, Node> renaming = argumentRenaming(lg, lp);
            if (renaming != null && values(rg, substitute(rp, renaming))) return true;
            if (Trace.conventions().dependentNameIgnored() && sameFormulaOtherName(lg, rg, lp, rp)) {
                Trace.rule("a formula under another dependent name (convention dependentNameIgnored)");
                return true;
            }
            // "y = 3 - x" vs "x + y = 3": still the same equation
        }
        if (!Evaluator.isArithmetic(lg) || !Evaluator.isArithmetic(rg) || !Evaluator.isArithmetic(lp) || !Evaluator.isArithmetic(rp)) {
            return og == op && Node.render(lg).equals(Node.render(lp)) && Node.render(rg).equals(Node.render(rp));
        }
        Node dg = new Add(List.of(lg, new Neg(rg))), dp = new Add(List.of(lp, new Neg(rp)));
        if (og == op) {
            if (values(dg, dp)) return true;
            double ratio = ratio(dg, dp);
            return og.isInequality() ? ratio > 0 : ratio != 0 && !Double.isNaN(ratio);
        }
        if (og.isInequality() && og.flipped() == op) {
            if (values(dg, new Neg(dp))) return true;
            return ratio(dg, dp) < 0;
        }
        return false;
    }

    /**
     * "y = t^2 - 1" against "g(t) = t^2 - 1": both left sides only name what the formula defines (a symbol, or a
     * function of symbols), neither name appears on a right side, and the right sides are the same non-constant
     * formula (a function's arguments renamed to the other side's, or to the variables of the other formula).
     */
    private static boolean sameFormulaOtherName(Node lg, Node rg, Node lp, Node rp) {
        String ng = dependentName(lg), np = dependentName(lp);
        if (ng == null || np == null || ng.equals(np)) return false;
        Set<String> vg = Evaluator.symbols(rg), vp = Evaluator.symbols(rp);
        if (vg.isEmpty() || vp.isEmpty() || vg.contains(ng) || vp.contains(np)) return false;
        Node p = rp;
        if (lg instanceof Fn fg && lp instanceof Fn fp && fg.args().size() == fp.args().size()) {
            Map<String, Node> m = new HashMap<>();
            for (int i = 0; i < fg.args().size(); i++) if (fg.args().get(i) instanceof Sym a && fp.args().get(i) instanceof Sym b) m.put(b.name(), a);
            p = substitute(rp, m);
        }
        return values(rg, p);
    }

    /** The name a left side defines: "y", or "g" of "g(t)"; null for anything else. */
    private static String dependentName(Node lhs) {
        return switch (lhs) {
            case Sym s -> s.name();
            case Fn f when !f.known() && f.args().stream().allMatch(a -> a instanceof Sym) -> f.name();
            default -> null;
        };
    }

    /** f(x) = … against f(t) = …: the same function written with another argument name. */
    private static Map<String, Node> argumentRenaming(Node g, Node p) {
        if (!(g instanceof Fn fg) || !(p instanceof Fn fp) || !fg.name().equals(fp.name()) || fg.args().size() != fp.args().size()) return null;
        Map<String, Node> m = new HashMap<>();
        for (int i = 0; i < fg.args().size(); i++) {
            if (!(fg.args().get(i) instanceof Sym a) || !(fp.args().get(i) instanceof Sym b)) return null;
            m.put(b.name(), a);
        }
        return m;
    }

    private static Node substitute(Node n, Map<String, Node> m) {
        return switch (n) {
            case Sym s -> m.getOrDefault(s.name(), s);
            case Add x -> new Add(x.terms().stream().map(t -> substitute(t, m)).toList());
            case Mul x -> new Mul(x.factors().stream().map(t -> substitute(t, m)).toList());
            case Neg x -> new Neg(substitute(x.arg(), m));
            case Div x -> new Div(substitute(x.num(), m), substitute(x.den(), m));
            case Pow x -> new Pow(substitute(x.base(), m), substitute(x.exp(), m));
            case Fn x -> new Fn(x.name(), x.args().stream().map(t -> substitute(t, m)).toList());
            case Percent x -> new Percent(substitute(x.arg(), m));
            default -> n;
        };
    }

    /** The constant c with a = c·b at every sample point, NaN when there is none. */
    private static double ratio(Node a, Node b) {
        Set<String> syms = new LinkedHashSet<>(Evaluator.symbols(a));
        syms.addAll(Evaluator.symbols(b));
        if (syms.isEmpty()) return Double.NaN;
        Random rnd = new Random(0x7A1AL ^ syms.hashCode());
        double c = Double.NaN;
        int valid = 0;
        for (int k = 0; k < 2 * SAMPLE_POINTS && valid < SAMPLE_POINTS; k++) {
            Map<String, Complex> env = point(syms, rnd);
            Complex x = Evaluator.numeric(a, env), y = Evaluator.numeric(b, env);
            if (!x.isFinite() || !y.isFinite() || y.abs() < 1e-12) continue;
            Complex r = x.div(y);
            if (!r.isReal()) return Double.NaN;
            if (valid == 0) c = r.re();
            else if (Math.abs(r.re() - c) > SAMPLE_TOLERANCE * Math.max(1, Math.abs(c))) return Double.NaN;
            valid++;
        }
        return valid >= 4 ? c : Double.NaN;
    }

    // ---------------------------------------------------------------- values

    /** Two arithmetic expressions; a top-level percent may be read with or without the "%" (28% ~ 28 ~ 0.28). */
    static boolean values(Node g, Node p) {
        if (Node.render(g).equals(Node.render(p))) return true;
        if (g instanceof Percent && p instanceof Percent) return scalars(g, p); // both signed: 0.25% is not 25%
        for (Node a : percentReadings(g)) for (Node b : percentReadings(p)) if (scalars(a, b)) {
            if (a != g || b != p) Trace.rule("percent sign left off on one side (convention percentSignOptional)");
            return true;
        }
        return false;
    }

    private static List<Node> percentReadings(Node n) {
        return n instanceof Percent(Node x) && Trace.conventions().percentSignOptional() ? List.of(n, x) : List.of(n);
    }

    private static boolean scalars(Node g, Node p) {
        if (!Evaluator.isArithmetic(g) || !Evaluator.isArithmetic(p)) return false;
        Set<String> syms = new LinkedHashSet<>(Evaluator.symbols(g));
        syms.addAll(Evaluator.symbols(p));
        if (syms.isEmpty()) return constants(g, p);
        Probe probe = sample(g, p, syms);
        if (probe != Probe.INCONCLUSIVE) return probe == Probe.EQUAL;
        return SymjaCas.differenceIsZero(g, p) == SymjaCas.Verdict.ZERO;
    }

    private static boolean constants(Node g, Node p) {
        Rational eg = Evaluator.exact(g), ep = Evaluator.exact(p);
        if (eg != null && ep != null && eg.equals(ep)) return true;
        boolean decimals = hasDecimal(g) || hasDecimal(p);
        if (eg != null && ep != null && !decimals) return false;
        Complex vg = Evaluator.numeric(g, Map.of()), vp = Evaluator.numeric(p, Map.of());
        if (eg != null && ep != null && vg.isFinite() && vp.isFinite()) {
            // two exact values, one written as a decimal: only the rounding rules apply (2.88e-19 is not 0)
            return rounded(g, p, eg, vg.re(), vp.re());
        }
        if (vg.isFinite() && vp.isFinite()) {
            if (close(vg, vp, CONSTANT_TOLERANCE)) return true;
            if (!decimals) return false;
            if (!vg.isReal() || !vp.isReal()) return Math.abs(vg.re() - vp.re()) <= SIX_PLACES && Math.abs(vg.im() - vp.im()) <= SIX_PLACES;
            return rounded(g, p, eg, vg.re(), vp.re());
        }
        if (Evaluator.isInfinite(g) || Evaluator.isInfinite(p)) return false;
        // beyond doubles (10^{400}, huge factorials): only the CAS can tell
        return SymjaCas.differenceIsZero(g, p) == SymjaCas.Verdict.ZERO;
    }

    /**
     * A decimal against another value. Equal to six places always counts. Beyond that, rounding is accepted
     * only where an exact decimal cannot exist: a prediction of at least two places for a gold fraction with
     * no terminating decimal (0.33 for 1/3, but not 0.13 for 1/8 nor 3.14 for π), and an exact prediction for
     * a gold given as a rounded decimal (70/9 for 7.78).
     */
    private static boolean rounded(Node g, Node p, Rational exactGold, double vg, double vp) {
        double diff = Math.abs(vg - vp), scale = Math.max(Math.abs(vg), Math.abs(vp));
        // six places, but never between tiny values (7.4e-12 is not 0): the difference must also be small relatively
        if ((diff <= SIX_PLACES && diff <= SIX_PLACES_RELATIVE * scale) || diff <= 1e-12 * scale) return true;
        if (diff > ROUNDING_RELATIVE * scale || !Trace.conventions().roundedDecimals()) return false;
        int gPlaces = Evaluator.literalDecimals(g), pPlaces = Evaluator.literalDecimals(p);
        if (pPlaces >= 2 && !hasDecimal(g) && exactGold != null && !terminates(exactGold)) {
            return diff <= 0.5 * Math.pow(10, -pPlaces) * (1 + 1e-9);
        }
        // two places at least: "1.6" is too coarse to stand for one exact value (π/2 would pass)
        if (gPlaces >= 2 && !hasDecimal(p)) {
            Rational ep = Evaluator.exact(p);
            if (ep == null || !terminates(ep) || ep.den().bitLength() > 64) return diff <= 0.5 * Math.pow(10, -gPlaces) * (1 + 1e-9);
        }
        return false;
    }

    /** Has a finite decimal expansion (denominator 2^a 5^b). */
    private static boolean terminates(Rational r) {
        java.math.BigInteger d = r.den();
        java.math.BigInteger two = java.math.BigInteger.TWO, five = java.math.BigInteger.valueOf(5);
        while (d.mod(two).signum() == 0) d = d.divide(two);
        while (d.mod(five).signum() == 0) d = d.divide(five);
        return d.equals(java.math.BigInteger.ONE);
    }

    private static boolean hasDecimal(Node n) {
        return switch (n) {
            case Num x -> x.decimals() > 0;
            case Add x -> x.terms().stream().anyMatch(Equivalence::hasDecimal);
            case Mul x -> x.factors().stream().anyMatch(Equivalence::hasDecimal);
            case Neg x -> hasDecimal(x.arg());
            case Div x -> hasDecimal(x.num()) || hasDecimal(x.den());
            case Pow x -> hasDecimal(x.base()) || hasDecimal(x.exp());
            case Fn x -> x.args().stream().anyMatch(Equivalence::hasDecimal);
            case Percent x -> hasDecimal(x.arg());
            default -> false;
        };
    }

    private static boolean close(Complex a, Complex b, double tol) {
        return a.sub(b).abs() <= tol * Math.max(a.abs(), b.abs()) + 1e-12;
    }

    /** Both sides at random points: a concrete disagreement is DIFFERENT, agreement at every usable point EQUAL. */
    /**
     * Points where both sides are real decide: answers are real functions, so 2/√(x³) equals 2x^{-3/2} although
     * their principal complex values differ for x &lt; 0, where neither is a real number. A real point that
     * disagrees is always a counterexample. Only when too few real points exist do complex values decide.
     */
    private static Probe sample(Node g, Node p, Set<String> syms) {
        Random rnd = new Random(0x5EEDL ^ syms.hashCode());
        int real = 0, complex = 0, informative = 0;
        boolean complexDiffers = false;
        for (int k = 0; k < 3 * SAMPLE_POINTS && real < SAMPLE_POINTS; k++) {
            Map<String, Complex> env = point(syms, rnd);
            Complex a = Evaluator.numeric(g, env), b = Evaluator.numeric(p, env);
            if (!a.isFinite() || !b.isFinite()) continue;
            if (Math.max(a.abs(), b.abs()) > 1e-6) informative++;
            if (a.isReal() && b.isReal()) {
                if (!close(a, b, SAMPLE_TOLERANCE)) return Probe.DIFFERENT;
                real++;
            } else {
                complexDiffers |= !close(a, b, SAMPLE_TOLERANCE);
                complex++;
            }
        }
        // every point zero on both sides: an identity, or values that under- and overflowed (x^{10^{10}}): ask the CAS
        if (informative == 0) return Probe.INCONCLUSIVE;
        if (real >= 4) {
            if (complexDiffers) Trace.rule("equal wherever both sides are real numbers (they differ only off the real domain)");
            return Probe.EQUAL;
        }
        if (complexDiffers) return Probe.DIFFERENT;
        return real + complex >= 4 ? Probe.EQUAL : Probe.INCONCLUSIVE;
    }

    private static Map<String, Complex> point(Set<String> syms, Random rnd) {
        Map<String, Complex> env = new HashMap<>();
        for (String s : syms) env.put(s, Complex.real((rnd.nextBoolean() ? 1 : -1) * (0.3 + 2.4 * rnd.nextDouble())));
        return env;
    }

    // ---------------------------------------------------------------- words, letters, numerals

    private static String canonicalText(String s) {
        String t = s.toLowerCase(Locale.ROOT).replace("\\text", "").replaceAll("[\\s{}$]", "").replaceAll("[.,;:!]+$", "");
        return t.matches("\\([a-z]+\\)") ? t.substring(1, t.length() - 1) : t; // "(a)" names the item a
    }

    private static boolean text(String t, Answer other) {
        String a = canonicalText(t);
        if (a.isEmpty()) return false;
        return switch (other) {
            case Answer.Text o -> a.equals(canonicalText(o.text()));
            case Expression e -> letters(e.node()) instanceof String l && (l.length() > 1 || a.length() > 1 ? l.equalsIgnoreCase(a) : l.equals(t.strip().replaceAll("^\\((.)\\)$", "$1")));
            case Choice c -> a.matches("\\(?" + Character.toLowerCase(c.letter()) + "\\)?");
            default -> false;
        };
    }

    /** "odd" parsed as a product o·d·d, or "E" as a symbol: the letters as written. */
    private static String letters(Node n) {
        return switch (n) {
            case Sym s -> s.name();
            case Const c -> switch (c.kind()) { case E -> "e"; case I -> "i"; case PI -> "pi"; default -> null; };
            case Mul m -> {
                StringBuilder b = new StringBuilder();
                for (Node f : m.factors()) {
                    String l = letters(f);
                    if (l == null) yield null;
                    b.append(l);
                }
                yield b.toString();
            }
            default -> null;
        };
    }

    private static boolean choice(char letter, Answer p) {
        return switch (p) {
            case Choice c -> c.letter() == letter;
            case Answer.Text t -> canonicalText(t.text()).matches("\\(?" + Character.toLowerCase(letter) + "\\)?");
            case Expression e -> String.valueOf(letter).equals(letters(e.node()));
            default -> false;
        };
    }

    private static boolean numeral(Answer.Numeral n, Answer other) {
        String digits = stripZeros(n.digits());
        return switch (other) {
            case Answer.Numeral o -> o.base() == n.base() && stripZeros(o.digits()).equalsIgnoreCase(digits);
            // the base subscript left off: "204" for 204_5 names the same digits
            case Answer.Number o -> o.decimals() < 0 && !o.percent() && o.value().isInteger() && o.value().toString().equals(digits);
            default -> false;
        };
    }

    private static Rational numeralValue(Answer.Numeral n) {
        try {
            return Rational.of(new java.math.BigInteger(n.digits(), n.base()));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static String stripZeros(String d) {
        String s = d.replaceFirst("^0+(?=.)", "");
        return s.toLowerCase(Locale.ROOT);
    }
}
