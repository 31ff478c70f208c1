package dev.tina.eval.grading;

import dev.tina.eval.grading.Answer.*;
import dev.tina.eval.grading.Node.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/** Extracted answer text → {@link Answer}: normalizes, parses, then reads the structure (tuple, interval, set…). */
final class AnswerParser {
    private AnswerParser() {}

    private static final int MAX_ALTERNATIVES = 32;
    private static final Pattern WORDS = Pattern.compile("[A-Za-z][A-Za-z' \\-]*");
    private static final Pattern LONG_WORD = Pattern.compile("[A-Za-z]{3,}");
    private static final Pattern CHOICE_WITH_VALUE = Pattern.compile("(?:\\\\text\\{)?\\s*\\(([A-E])\\)\\s*}?\\s*(?:\\\\[ ,;]|~)?\\s*[^()]{1,40}");
    private static final Pattern CHOICE = Pattern.compile("\\\\?(?:text\\{)?\\s*\\(?([A-Z])\\)?\\s*\\}?");

    /**
     * Parses one extracted answer.
     *
     * @param plainText the answer came from plain text, not LaTeX (see {@link LatexNormalizer#normalize})
     * @throws AnswerParseException when it is not readable; the message says why
     */
    static Answer parse(String extracted, boolean plainText) {
        String s = LatexNormalizer.normalize(extracted, plainText);
        if (s.isEmpty()) throw new AnswerParseException("empty answer");
        checkBalanced(s);
        if (isWords(s)) return new Answer.Text(s);
        return toAnswer(ExpressionParser.parse(s));
    }

    /** A gold that names a multiple-choice option: "C", "(C)", "\text{(C)}". */
    static Character choiceLetter(String extracted) {
        String s = extracted.strip().replace("$", "").replace("\\textbf", "\\text").replace("\\mathrm", "\\text").strip();
        var m = CHOICE.matcher(s);
        if (m.matches()) return m.group(1).charAt(0);
        var v = CHOICE_WITH_VALUE.matcher(s); // AMC's "\textbf{(A) } 5": the option letter with its value
        return v.matches() ? v.group(1).charAt(0) : null;
    }

    private static boolean isWords(String s) {
        if (!WORDS.matcher(s).matches()) return false;
        var m = LONG_WORD.matcher(s);
        while (m.find()) {
            String w = m.group().toLowerCase(Locale.ROOT);
            if (!w.matches("sin|cos|tan|cot|sec|csc|log|exp|sqrt|pi|inf|infty|infinity|sinh|cosh|tanh|arcsin|arccos|arctan|gcd|lcm|max|min")) return true;
        }
        return s.strip().contains(" ") && s.strip().matches(".*[A-Za-z]{2,}.*");
    }

    private static void checkBalanced(String s) {
        int braces = 0, parens = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) { i++; continue; }
            if (c == '{') braces++;
            else if (c == '}' && --braces < 0) throw new AnswerParseException("unbalanced '}'");
            else if (c == '(' || c == '[') parens++;
            else if (c == ')' || c == ']') parens--;
        }
        if (braces != 0) throw new AnswerParseException("unbalanced '{'");
        if (parens != 0) throw new AnswerParseException("unbalanced brackets");
    }

    /** Reads the structure of a parsed node. */
    static Answer toAnswer(Node n) {
        return switch (n) {
            case Groups g -> new SetOf(g.groups().stream().map(AnswerParser::toAnswer).toList());
            case Seq s -> new SetOf(elements(s.items()));
            case SetLit s -> new SetOf(elements(s.items()));
            case Bracket b -> bracket(b);
            case Node.Union u -> union(u);
            case Rel r -> relation(r);
            case Node.Matrix m -> matrix(m.rows());
            case Node.Text t -> {
                if (t.text().isBlank()) throw new AnswerParseException("empty \\text{}");
                yield new Answer.Text(t.text());
            }
            case Node.Numeral x -> numeral(x);
            default -> value(n);
        };
    }

    /** Elements of a list or set; "1 \pm \sqrt 5" contributes both values. */
    private static List<Answer> elements(List<Node> items) {
        List<Answer> out = new ArrayList<>();
        for (Node item : items) {
            Answer a = toAnswer(item);
            if (a instanceof SetOf s && hasPlusMinus(item)) out.addAll(s.elements());
            else out.add(a);
        }
        return out;
    }

    private static boolean hasPlusMinus(Node n) {
        return switch (n) {
            case PlusMinus p -> true;
            case Add x -> x.terms().stream().anyMatch(AnswerParser::hasPlusMinus);
            case Mul x -> x.factors().stream().anyMatch(AnswerParser::hasPlusMinus);
            case Neg x -> hasPlusMinus(x.arg());
            case Div x -> hasPlusMinus(x.num()) || hasPlusMinus(x.den());
            case Pow x -> hasPlusMinus(x.base()) || hasPlusMinus(x.exp());
            case Fn x -> x.args().stream().anyMatch(AnswerParser::hasPlusMinus);
            case Percent x -> hasPlusMinus(x.arg());
            case Rel x -> x.operands().stream().anyMatch(AnswerParser::hasPlusMinus);
            default -> false;
        };
    }

    private static Answer bracket(Bracket b) {
        List<Node> items = b.items();
        boolean round = b.open() == '(' && b.close() == ')', square = b.open() == '[' && b.close() == ']';
        if (square && items.stream().allMatch(i -> i instanceof Bracket r && r.open() == '[' && r.close() == ']' && r.items().size() == ((Bracket) items.getFirst()).items().size())) {
            // [[1, 2], [3, 4]]: a matrix written as a nested list, row by row
            return matrix(items.stream().map(i -> ((Bracket) i).items()).toList());
        }
        if (items.size() == 2 && (square || !round || items.stream().anyMatch(Evaluator::isInfinite))) {
            return interval(items.get(0), items.get(1), b.open() == '[', b.close() == ']');
        }
        if (!round && !square) throw new AnswerParseException("an interval has two endpoints: " + Node.render(b));
        return new Tuple(items.stream().map(AnswerParser::toAnswer).toList());
    }

    private static Interval interval(Node lo, Node hi, boolean loClosed, boolean hiClosed) {
        if (!Evaluator.isArithmetic(lo) || !Evaluator.isArithmetic(hi)) throw new AnswerParseException("interval endpoints must be numbers");
        return new Interval(lo, hi, loClosed, hiClosed);
    }

    private static Answer union(Node.Union u) {
        List<Answer> parts = new ArrayList<>();
        for (Node p : u.parts()) {
            Answer a = p instanceof Bracket b && b.items().size() == 2 ? interval(b.items().get(0), b.items().get(1), b.open() == '[', b.close() == ']') : toAnswer(p);
            if (!(a instanceof Interval || a instanceof SetOf || a instanceof Answer.Union)) throw new AnswerParseException("a union joins sets or intervals: " + Node.render(u));
            if (a instanceof Answer.Union inner) parts.addAll(inner.parts());
            else parts.add(a);
        }
        return new Answer.Union(parts);
    }

    private static Answer relation(Rel r) {
        List<Node> operands = new ArrayList<>(r.operands());
        List<RelOp> ops = new ArrayList<>(r.ops());
        int approx = ops.indexOf(RelOp.APPROX);
        while (approx >= 0) {
            if (approx > 0) { // "x = 1/3 \approx 0.33": keep the exact part
                operands = new ArrayList<>(operands.subList(0, approx + 1));
                ops = new ArrayList<>(ops.subList(0, approx));
            } else if (Evaluator.onlySymbols(operands.getFirst())) { // "x \approx 0.33": the approximation is all there is
                operands.removeFirst();
                ops.removeFirst();
            } else { // "\frac13 \approx 0.33"
                operands = new ArrayList<>(operands.subList(0, 1));
                ops = new ArrayList<>();
            }
            approx = ops.indexOf(RelOp.APPROX);
        }
        if (ops.isEmpty()) return toAnswer(operands.getFirst());
        if (ops.contains(RelOp.IN)) {
            if (ops.size() == 1) return toAnswer(operands.get(1)); // "x \in [2, 7]": the set is the answer
            throw new AnswerParseException("\\in inside a chain");
        }
        Rel rel = new Rel(operands, ops);
        if (hasPlusMinus(rel)) { // "x = 1 \pm \sqrt 2" is two equations
            List<Answer> alternatives = new ArrayList<>();
            for (Node alt : expand(rel)) alternatives.add(relation((Rel) alt));
            return alternatives.size() == 1 ? alternatives.getFirst() : new SetOf(alternatives);
        }
        for (Node o : operands) {
            if (!Evaluator.isArithmetic(o) && !(o instanceof Bracket) && !(o instanceof Node.Matrix)) {
                throw new AnswerParseException("cannot compare " + Node.render(o));
            }
        }
        return new Relation(operands, ops);
    }

    private static Answer numeral(Node.Numeral x) {
        int base;
        try {
            base = Integer.parseInt(x.base());
        } catch (NumberFormatException e) {
            throw new AnswerParseException("bad base " + x.base());
        }
        if (base < 2 || base > 36) throw new AnswerParseException("bad base " + base);
        for (char c : x.digits().toCharArray()) {
            if (Character.digit(c, base) < 0) throw new AnswerParseException("digit " + c + " in base " + base);
        }
        return new Answer.Numeral(x.digits(), base);
    }

    private static Answer matrix(List<List<Node>> rows) {
        for (List<Node> r : rows) for (Node c : r) if (!Evaluator.isArithmetic(c)) throw new AnswerParseException("matrix entries must be numbers or expressions");
        return new Answer.Matrix(rows);
    }

    private static Answer value(Node n) {
        if (containsMatrix(n)) return matrix(MatrixAlgebra.fold(n).rows());
        if (!Evaluator.isArithmetic(n)) throw new AnswerParseException("cannot compute with " + Node.render(n));
        List<Node> alts = expand(n);
        if (alts.size() > 1) return new SetOf(alts.stream().map(AnswerParser::scalar).toList());
        return scalar(alts.getFirst());
    }

    private static Answer scalar(Node n) {
        return switch (n) {
            case Num x -> new Answer.Number(x.value(), x.decimals(), false);
            case Neg(Num x) -> new Answer.Number(x.value().negate(), x.decimals(), false);
            case Percent(Num x) -> new Answer.Number(x.value(), x.decimals(), true);
            case Percent(Neg(Num x)) -> new Answer.Number(x.value().negate(), x.decimals(), true);
            default -> new Expression(n);
        };
    }

    private static boolean containsMatrix(Node n) {
        return switch (n) {
            case Node.Matrix m -> true;
            case Add x -> x.terms().stream().anyMatch(AnswerParser::containsMatrix);
            case Mul x -> x.factors().stream().anyMatch(AnswerParser::containsMatrix);
            case Neg x -> containsMatrix(x.arg());
            case Div x -> containsMatrix(x.num()) || containsMatrix(x.den());
            case Pow x -> containsMatrix(x.base());
            default -> false;
        };
    }

    /** Every reading of the ± signs: {@code 1 \pm \sqrt 5} → [1 + √5, 1 - √5]. */
    static List<Node> expand(Node n) {
        return switch (n) {
            case PlusMinus p -> {
                List<Node> out = new ArrayList<>();
                for (Node r : expand(p.right())) {
                    if (p.left() == null) { out.add(r); out.add(new Neg(r)); }
                    else for (Node l : expand(p.left())) { out.add(new Add(List.of(l, r))); out.add(new Add(List.of(l, new Neg(r)))); }
                }
                yield cap(out);
            }
            case Add x -> combine(x.terms()).stream().map(t -> (Node) new Add(t)).toList();
            case Mul x -> combine(x.factors()).stream().map(t -> (Node) new Mul(t)).toList();
            case Neg x -> expand(x.arg()).stream().map(t -> (Node) new Neg(t)).toList();
            case Div x -> combine(List.of(x.num(), x.den())).stream().map(t -> (Node) new Div(t.get(0), t.get(1))).toList();
            case Pow x -> combine(List.of(x.base(), x.exp())).stream().map(t -> (Node) new Pow(t.get(0), t.get(1))).toList();
            case Fn x -> combine(x.args()).stream().map(t -> (Node) new Fn(x.name(), t)).toList();
            case Percent x -> expand(x.arg()).stream().map(t -> (Node) new Percent(t)).toList();
            case Rel x -> combine(x.operands()).stream().map(t -> (Node) new Rel(t, x.ops())).toList();
            default -> List.of(n);
        };
    }

    private static List<List<Node>> combine(List<Node> parts) {
        List<List<Node>> acc = new ArrayList<>();
        acc.add(List.of());
        for (Node p : parts) {
            List<Node> alts = expand(p);
            List<List<Node>> next = new ArrayList<>();
            for (List<Node> prefix : acc) {
                for (Node a : alts) {
                    List<Node> l = new ArrayList<>(prefix);
                    l.add(a);
                    next.add(l);
                }
            }
            if (next.size() > MAX_ALTERNATIVES) throw new AnswerParseException("too many \\pm");
            acc = next;
        }
        return acc;
    }

    private static List<Node> cap(List<Node> l) {
        if (l.size() > MAX_ALTERNATIVES) throw new AnswerParseException("too many \\pm");
        return l;
    }
}
