package dev.tina.eval.grading;

import dev.tina.eval.grading.Node.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Recursive-descent parser for normalized LaTeX (and plain-text math) into a {@link Node}.
 *
 * <pre>
 * answer   := list (';' list)*
 * list     := relation (',' relation)*
 * relation := union (relop union)*             relop: = &lt; &gt; \le \ge \ne \in \approx
 * union    := additive ('\cup' additive)*
 * additive := term (('+' | '-' | '\pm' | '\mp') term)*
 * term     := unary (('*' | '/' | ':' | implicit) unary)*
 * unary    := ('-' | '+' | '\pm') unary | power
 * power    := postfix ('^' exponent)?
 * postfix  := primary ('!' | '!!' | '%' | '_' sub | "'")*
 * </pre>
 *
 * Nesting is capped ({@link #MAX_DEPTH}) so hostile input fails fast instead of overflowing the stack.
 */
final class ExpressionParser {
    static final int MAX_LENGTH = 4000;
    static final int MAX_DEPTH = 100;

    private enum T { NUM, LETTER, CMD, OP, TEXT, FUNC, BEGIN, END, RAW, EOF }

    /** {@code raw} carries the braced argument of commands read verbatim ({@code \mathbb}, {@code \overline}). */
    private record Tok(T type, String text, boolean space, String raw) {
        boolean is(T t, String s) { return type == t && text.equals(s); }

        boolean op(String s) { return type == T.OP && text.equals(s); }
    }

    private static final Set<String> WORD_FUNCTIONS = Set.of("sin", "cos", "tan", "cot", "sec", "csc", "arcsin",
            "arccos", "arctan", "sinh", "cosh", "tanh", "ln", "log", "exp", "sqrt", "pi", "infty", "infinity", "inf",
            "gcd", "lcm", "max", "min");
    private static final Set<String> FUNCTION_COMMANDS = Set.of("sin", "cos", "tan", "cot", "sec", "csc", "arcsin",
            "arccos", "arctan", "sinh", "cosh", "tanh", "ln", "log", "exp", "gcd", "lcm", "max", "min", "lg");
    private static final Map<String, RelOp> REL_COMMANDS = Map.ofEntries(Map.entry("le", RelOp.LE), Map.entry("leq", RelOp.LE),
            Map.entry("ge", RelOp.GE), Map.entry("geq", RelOp.GE), Map.entry("lt", RelOp.LT), Map.entry("gt", RelOp.GT),
            Map.entry("ne", RelOp.NE), Map.entry("neq", RelOp.NE), Map.entry("approx", RelOp.APPROX),
            Map.entry("in", RelOp.IN), Map.entry("equiv", RelOp.EQ), Map.entry("simeq", RelOp.APPROX));
    /** Commands that are operators or layout, never a value: an unknown one of these is a parse error. */
    private static final Set<String> NOT_VALUES = Set.of("cdot", "times", "div", "ast", "pm", "mp", "cup", "cap",
            "setminus", "notin", "to", "rightarrow", "Rightarrow", "implies", "iff", "mapsto", "wedge", "vee", "land",
            "lor", "neg", "cong", "sim", "perp", "parallel", "subset", "subseteq", "supset", "supseteq", "therefore",
            "because", "right", "left", "end", "pmod", "bmod", "mod", "quad", "qquad", "}", "\\\\", "rfloor", "rceil",
            "le", "leq", "ge", "geq", "lt", "gt", "ne", "neq", "approx", "in", "equiv", "simeq", "colon", "over");
    private static final Set<String> DECORATIONS = Set.of("overline", "bar", "vec", "hat", "widehat", "overrightarrow",
            "underline", "tilde", "widetilde", "overleftrightarrow", "dot", "ddot", "mathcal", "mathfrak", "mathscr");

    private final List<Tok> toks;
    private int pos;
    private int depth;
    private int absDepth;

    private ExpressionParser(List<Tok> toks) { this.toks = toks; }

    /** Parses normalized answer text; throws {@link AnswerParseException} saying what is wrong. */
    static Node parse(String s) {
        if (s.isBlank()) throw new AnswerParseException("empty answer");
        if (s.length() > MAX_LENGTH) throw new AnswerParseException("answer longer than " + MAX_LENGTH + " characters");
        ExpressionParser p = new ExpressionParser(lex(s));
        Node n = p.parseAnswer();
        if (p.peek().type != T.EOF) throw new AnswerParseException("unexpected '" + p.peek().text + "'");
        return n;
    }

    // ---------------------------------------------------------------- lexer

    private static List<Tok> lex(String s) {
        List<Tok> out = new ArrayList<>();
        int i = 0, n = s.length();
        boolean space = false;
        while (i < n) {
            Interrupts.check();
            char c = s.charAt(i);
            if (Character.isWhitespace(c)) { space = true; i++; continue; }
            if (Character.isDigit(c) || (c == '.' && i + 1 < n && Character.isDigit(s.charAt(i + 1)))) {
                int j = i;
                while (j < n && Character.isDigit(s.charAt(j))) j++;
                if (j < n && s.charAt(j) == '.' && j + 1 < n && Character.isDigit(s.charAt(j + 1))) {
                    j++;
                    while (j < n && Character.isDigit(s.charAt(j))) j++;
                }
                if (j < n && s.charAt(j) == '.' && (j + 1 == n || "/*+-)]},; ".indexOf(s.charAt(j + 1)) >= 0) && s.charAt(i) != '.') j++; // "1./3"
                j = scientificEnd(s, i, j);
                out.add(new Tok(T.NUM, s.substring(i, j), space, null));
                i = j;
            } else if (Character.isLetter(c)) {
                int j = i;
                while (j < n && Character.isLetter(s.charAt(j)) && s.charAt(j) < 128) j++;
                if (j == i) j = i + 1; // a non-ASCII letter (θ) is one symbol
                String word = s.substring(i, j);
                if (j - i > 1 && WORD_FUNCTIONS.contains(word.toLowerCase(Locale.ROOT))) {
                    String w = word.toLowerCase(Locale.ROOT);
                    out.add(new Tok(T.CMD, w.equals("infinity") || w.equals("inf") ? "infty" : w, space, null));
                } else {
                    for (int k = i; k < j; k++) out.add(new Tok(T.LETTER, String.valueOf(s.charAt(k)), space && k == i, null));
                }
                i = j;
            } else if (c == '\\') {
                i = lexCommand(s, i, space, out);
            } else {
                String two = i + 1 < n ? s.substring(i, i + 2) : "";
                String op = switch (two) {
                    case "<=", "=<" -> "\\le";
                    case ">=", "=>" -> "\\ge";
                    case "!=", "<>" -> "\\ne";
                    case "==", ":=" -> "=";
                    case "**" -> "^";
                    default -> null;
                };
                if (op != null) {
                    out.add(op.startsWith("\\") ? new Tok(T.CMD, op.substring(1), space, null) : new Tok(T.OP, op, space, null));
                    i += 2;
                } else {
                    out.add(new Tok(T.OP, String.valueOf(c), space, null));
                    i++;
                }
            }
            space = false;
        }
        out.add(new Tok(T.EOF, "", false, null));
        return out;
    }

    /** "1.5e-3", "2.0E+5", "3e-4" are scientific; a bare "2e3" stays 2·e·3 (ambiguous, rare). */
    private static int scientificEnd(String s, int start, int j) {
        int n = s.length();
        if (j + 1 >= n || (s.charAt(j) != 'e' && s.charAt(j) != 'E')) return j;
        int k = j + 1;
        boolean sign = s.charAt(k) == '-' || s.charAt(k) == '+';
        if (sign) k++;
        int digits = k;
        while (k < n && Character.isDigit(s.charAt(k))) k++;
        if (k == digits || (k < n && Character.isLetter(s.charAt(k)))) return j;
        boolean hasPoint = s.substring(start, j).contains(".");
        return hasPoint || s.charAt(j + 1) == '-' ? k : j;
    }

    private static int lexCommand(String s, int i, boolean space, List<Tok> out) {
        int n = s.length();
        if (i + 1 >= n) { out.add(new Tok(T.OP, "\\", space, null)); return i + 1; }
        char c = s.charAt(i + 1);
        if (!Character.isLetter(c)) {
            out.add(new Tok(T.CMD, c == '\\' ? "\\\\" : String.valueOf(c), space, null));
            return i + 2;
        }
        int j = i + 1;
        while (j < n && Character.isLetter(s.charAt(j))) j++;
        String name = s.substring(i + 1, j);
        if (name.equals("text") || name.equals("operatorname") || name.equals("begin") || name.equals("end")
                || name.equals("mathbb") || DECORATIONS.contains(name)) {
            int k = j;
            while (k < n && s.charAt(k) == ' ') k++;
            String arg;
            if (k < n && s.charAt(k) == '{') {
                int close = LatexNormalizer.matchingBrace(s, k);
                if (close < 0) throw new AnswerParseException("unbalanced braces after \\" + name);
                arg = s.substring(k + 1, close);
                k = close + 1;
            } else if (k < n && !name.equals("text")) {
                arg = String.valueOf(s.charAt(k));
                k++;
            } else {
                throw new AnswerParseException("\\" + name + " without an argument");
            }
            switch (name) {
                case "text" -> out.add(new Tok(T.TEXT, arg, space, null));
                case "operatorname" -> out.add(new Tok(T.FUNC, arg.strip(), space, null));
                case "begin" -> {
                    out.add(new Tok(T.BEGIN, arg.strip(), space, null));
                    if (arg.strip().equals("array")) { // skip the column spec {cc|c}
                        while (k < n && s.charAt(k) == ' ') k++;
                        if (k < n && s.charAt(k) == '{') {
                            int close = LatexNormalizer.matchingBrace(s, k);
                            if (close > 0) k = close + 1;
                        }
                    }
                }
                case "end" -> out.add(new Tok(T.END, arg.strip(), space, null));
                default -> out.add(new Tok(T.RAW, name, space, arg.strip()));
            }
            return k;
        }
        out.add(new Tok(T.CMD, name, space, null));
        return j;
    }

    // ---------------------------------------------------------------- parser

    private Tok peek() { return toks.get(pos); }

    private Tok peek(int ahead) { return toks.get(Math.min(pos + ahead, toks.size() - 1)); }

    private Tok next() {
        if ((pos & 0xFF) == 0) Interrupts.check();
        return toks.get(pos < toks.size() - 1 ? pos++ : pos);
    }

    private boolean acceptOp(String s) {
        if (peek().op(s)) { pos++; return true; }
        return false;
    }

    private void expectOp(String s) {
        if (!acceptOp(s)) throw new AnswerParseException("expected '" + s + "' but found " + describe(peek()));
    }

    private static String describe(Tok t) { return t.type == T.EOF ? "the end" : "'" + t.text + "'"; }

    private void enter() {
        if (++depth > MAX_DEPTH) throw new AnswerParseException("nested deeper than " + MAX_DEPTH + " levels");
    }

    private Node parseAnswer() {
        List<Node> groups = new ArrayList<>();
        groups.add(parseList());
        while (acceptOp(";")) {
            if (peek().type == T.EOF) break;
            groups.add(parseList());
        }
        return groups.size() == 1 ? groups.getFirst() : new Groups(groups);
    }

    private Node parseList() {
        List<Node> items = new ArrayList<>();
        items.add(parseRelation());
        while (acceptOp(",")) {
            if (atListEnd()) break; // trailing comma
            items.add(parseRelation());
        }
        return items.size() == 1 ? items.getFirst() : new Seq(items);
    }

    private boolean atListEnd() {
        Tok t = peek();
        return t.type == T.EOF || t.op(")") || t.op("]") || t.op("}") || t.op(";") || t.is(T.CMD, "}");
    }

    private List<Node> parseItems() {
        List<Node> items = new ArrayList<>();
        if (atListEnd()) return items;
        items.add(parseRelation());
        while (acceptOp(",") || acceptOp(";")) { // "(1; 2)": a semicolon separates coordinates in many countries
            if (atListEnd()) break;
            items.add(parseRelation());
        }
        return items;
    }

    private RelOp relOp(Tok t) {
        if (t.type == T.OP) {
            return switch (t.text) { case "=" -> RelOp.EQ; case "<" -> RelOp.LT; case ">" -> RelOp.GT; default -> null; };
        }
        return t.type == T.CMD ? REL_COMMANDS.get(t.text) : null;
    }

    private Node parseRelation() {
        enter();
        try {
            while (relOp(peek()) != null && relOp(peek()) != RelOp.IN) next(); // "= 5", "\approx 3.14"
            List<Node> operands = new ArrayList<>();
            List<RelOp> ops = new ArrayList<>();
            operands.add(parseUnion());
            RelOp op;
            while ((op = relOp(peek())) != null) {
                next();
                ops.add(op);
                operands.add(parseUnion());
            }
            return ops.isEmpty() ? operands.getFirst() : new Rel(operands, ops);
        } finally {
            depth--;
        }
    }

    private Node parseUnion() {
        List<Node> parts = new ArrayList<>();
        parts.add(parseAdditive());
        while (peek().is(T.CMD, "cup")) {
            next();
            parts.add(parseAdditive());
        }
        return parts.size() == 1 ? parts.getFirst() : new Union(parts);
    }

    private Node parseAdditive() {
        List<Node> terms = new ArrayList<>();
        terms.add(parseTerm());
        while (true) {
            Tok t = peek();
            if (t.op("+")) { next(); terms.add(parseTerm()); }
            else if (t.op("-")) { next(); terms.add(new Neg(parseTerm())); }
            else if (t.is(T.CMD, "pm") || t.is(T.CMD, "mp")) {
                next();
                Node left = terms.size() == 1 ? terms.getFirst() : new Add(List.copyOf(terms));
                terms.clear();
                terms.add(new PlusMinus(left, parseTerm(), t.text.equals("mp")));
            } else break;
        }
        return terms.size() == 1 ? terms.getFirst() : new Add(terms);
    }

    private Node parseTerm() {
        List<Node> factors = new ArrayList<>();
        Node acc = parseUnary();
        while (true) {
            Tok t = peek();
            if (t.op("*") || t.is(T.CMD, "cdot") || t.is(T.CMD, "times") || t.is(T.CMD, "ast")) {
                next();
                factors.add(acc);
                acc = parseUnary();
            } else if (t.op("/") || t.is(T.CMD, "div") || (t.op(":") && startsValue(peek(1)))) {
                next();
                Node den = parseUnary();
                acc = new Div(product(factors, acc), den);
                factors.clear();
            } else if (startsValue(t)) {
                Node next = parsePower();
                Node mixed = factors.isEmpty() ? mixedNumber(acc, next) : null;
                if (mixed != null) {
                    acc = mixed;
                } else {
                    factors.add(acc);
                    acc = next;
                }
            } else break;
        }
        return product(factors, acc);
    }

    /** "2\\frac{1}{2}" is the mixed number 5/2 (answers write it so), not 2·1/2; only for integer literals. */
    private static Node mixedNumber(Node whole, Node frac) {
        if (!(frac instanceof Div(Num(Rational a, int da), Num(Rational b, int db))) || da >= 0 || db >= 0
                || !a.isInteger() || !b.isInteger() || a.signum() <= 0 || a.compareTo(b) >= 0) return null;
        if (whole instanceof Num(Rational w, int dw) && dw < 0 && w.isInteger() && w.signum() > 0) return new Add(List.of(whole, frac));
        if (whole instanceof Neg(Num(Rational w, int dw)) && dw < 0 && w.isInteger() && w.signum() > 0) return new Neg(new Add(List.of(new Num(w, dw), frac)));
        return null;
    }

    private static Node product(List<Node> factors, Node last) {
        if (factors.isEmpty()) return last;
        List<Node> all = new ArrayList<>(factors);
        all.add(last);
        return new Mul(all);
    }

    private Node parseUnary() {
        Tok t = peek();
        if (t.op("-") || t.op("+") || t.is(T.CMD, "pm") || t.is(T.CMD, "mp")) {
            enter();
            try {
                next();
                Node arg = parseUnary();
                if (t.op("-")) return new Neg(arg);
                if (t.op("+")) return arg;
                return new PlusMinus(null, arg, t.text.equals("mp"));
            } finally {
                depth--;
            }
        }
        return parsePower();
    }

    private Node parsePower() {
        Node base = parsePostfix();
        if (acceptOp("^")) {
            base = new Pow(base, parseExponent());
            base = parsePostfixOps(base);
        }
        return base;
    }

    private Node parseExponent() {
        enter();
        try {
            if (acceptOp("-")) return new Neg(parseExponent());
            acceptOp("+");
            Node p = parsePostfix();
            if (acceptOp("^")) return new Pow(p, parseExponent());
            return p;
        } finally {
            depth--;
        }
    }

    private Node parsePostfix() { return parsePostfixOps(parsePrimary()); }

    private Node parsePostfixOps(Node n) {
        while (true) {
            Tok t = peek();
            if (t.op("!") && !peek(1).op("=")) {
                next();
                if (peek().op("!") && !peek().space) { next(); n = new Fn("factorial2", List.of(n)); }
                else n = new Fn("factorial", List.of(n));
            } else if (t.op("%")) {
                next();
                n = new Percent(n);
            } else if (t.op("_")) {
                next();
                Node sub = parseSubscript();
                n = switch (n) {
                    case Sym s -> new Sym(s.name() + "_" + Node.render(sub));
                    case Num num when num.decimals() < 0 && num.value().isInteger() && sub instanceof Num b && b.value().isInteger() ->
                            new Numeral(num.value().toString(), b.value().toString());
                    case Numeral num -> num;
                    default -> new Sym(Node.render(n) + "_" + Node.render(sub));
                };
            } else if (t.op("'") && n instanceof Sym s) {
                next();
                n = new Sym(s.name() + "'");
            } else {
                return n;
            }
        }
    }

    private Node parseSubscript() {
        if (peek().op("{")) {
            next();
            Node inner = parseList();
            expectOp("}");
            return inner;
        }
        Tok t = next();
        return switch (t.type) {
            case NUM -> new Num(Rational.parseDecimal(t.text), -1);
            case LETTER -> new Sym(t.text);
            case CMD -> new Sym(t.text);
            default -> throw new AnswerParseException("bad subscript " + describe(t));
        };
    }

    /** Can this token start a value (for implicit multiplication)? */
    private boolean startsValue(Tok t) {
        return switch (t.type) {
            case NUM, LETTER, TEXT, FUNC, BEGIN, RAW -> true;
            case CMD -> !NOT_VALUES.contains(t.text) && !REL_COMMANDS.containsKey(t.text) && !t.text.equals(",");
            case OP -> t.text.equals("(") || t.text.equals("[") || t.text.equals("{") || (t.text.equals("|") && absDepth == 0);
            default -> false;
        };
    }

    private Node parsePrimary() {
        Tok t = next();
        switch (t.type) {
            case NUM -> {
                String s = t.text;
                int e = s.indexOf('e') >= 0 ? s.indexOf('e') : s.indexOf('E');
                if (e >= 0) {
                    Rational mant = Rational.parseDecimal(s.substring(0, e));
                    int exp = Integer.parseInt(s.substring(e + 1).replace("+", ""));
                    if (Math.abs(exp) > 400) throw new AnswerParseException("exponent out of range: " + s);
                    int places = decimalsOf(s.substring(0, e)) - exp; // 7.4e-12 has 13 places
                    return new Num(mant.multiply(Rational.of(10).pow(java.math.BigInteger.valueOf(exp))), Math.max(places, 0));
                }
                return new Num(Rational.parseDecimal(s), decimalsOf(s));
            }
            case LETTER -> {
                String l = t.text;
                if (peek().op("(") && !peek().space && isFunctionLetter(l)) return new Fn(l, callArgs());
                return switch (l) {
                    case "e" -> new Const(Const.Kind.E);
                    case "i" -> new Const(Const.Kind.I);
                    default -> new Sym(l);
                };
            }
            case TEXT -> { return text(t.text); }
            case FUNC -> { return applyFunction(t.text.toLowerCase(Locale.ROOT)); }
            case BEGIN -> { return matrix(t.text); }
            case RAW -> { return raw(t.text, t.raw); }
            case OP -> {
                return switch (t.text) {
                    case "(", "[" -> bracket(t.text.charAt(0));
                    case "{" -> {
                        enter();
                        try {
                            List<Node> items = parseItems();
                            expectOp("}");
                            yield items.size() == 1 ? items.getFirst() : new SetLit(items);
                        } finally {
                            depth--;
                        }
                    }
                    case "|" -> {
                        enter();
                        absDepth++;
                        try {
                            Node inner = parseAdditive();
                            expectOp("|");
                            yield new Fn("abs", List.of(inner));
                        } finally {
                            absDepth--;
                            depth--;
                        }
                    }
                    default -> throw new AnswerParseException("unexpected " + describe(t));
                };
            }
            case CMD -> { return command(t.text); }
            case END -> throw new AnswerParseException("unexpected \\end{" + t.text + "}");
            default -> throw new AnswerParseException("unexpected " + describe(t));
        }
    }

    private static int decimalsOf(String s) {
        int dot = s.indexOf('.');
        return dot < 0 || dot == s.length() - 1 ? -1 : s.length() - dot - 1;
    }

    /** f(x), g(x), h(x), P(x), W(n): undefined functions; x(x+1) stays a product. */
    private static boolean isFunctionLetter(String l) {
        return l.equals("f") || l.equals("g") || l.equals("h") || Character.isUpperCase(l.charAt(0));
    }

    private List<Node> callArgs() {
        next(); // (
        enter();
        try {
            List<Node> args = parseItems();
            expectOp(")");
            if (args.isEmpty()) throw new AnswerParseException("empty argument list");
            return args;
        } finally {
            depth--;
        }
    }

    private Node bracket(char open) {
        enter();
        try {
            List<Node> items = parseItems();
            Tok close = next();
            if (!close.op(")") && !close.op("]")) throw new AnswerParseException("unclosed '" + open + "'");
            if (items.isEmpty()) throw new AnswerParseException("empty brackets");
            char c = close.text.charAt(0);
            boolean same = (open == '(' && c == ')') || (open == '[' && c == ']');
            if (same && items.size() == 1) return items.getFirst();
            return new Bracket(open, items, c);
        } finally {
            depth--;
        }
    }

    private Node group() {
        if (!peek().op("{")) return parsePostfix();
        next();
        enter();
        try {
            Node n = parseList();
            expectOp("}");
            return n;
        } finally {
            depth--;
        }
    }

    private Node text(String content) {
        String c = content.strip();
        if (c.isEmpty()) return new Text("");
        if (c.matches("[-+0-9.,/ ()\\[\\]^]+") || c.matches("[A-Za-z]") || c.matches("\\(?[A-Z]\\)?")) {
            enter();
            try {
                return parseNested(c);
            } finally {
                depth--;
            }
        }
        return new Text(c);
    }

    private Node parseNested(String s) {
        ExpressionParser p = new ExpressionParser(lex(s));
        p.depth = depth;
        Node n = p.parseAnswer();
        if (p.peek().type != T.EOF) throw new AnswerParseException("unexpected '" + p.peek().text + "'");
        return n;
    }

    private Node raw(String name, String arg) {
        if (name.equals("mathbb")) {
            return switch (arg) {
                case "R" -> new Bracket('(', List.of(new Neg(new Const(Const.Kind.INFINITY)), new Const(Const.Kind.INFINITY)), ')');
                default -> new Sym("\\mathbb{" + arg + "}");
            };
        }
        return new Sym(name + "{" + arg.replace(" ", "") + "}");
    }

    private Node command(String name) {
        switch (name) {
            case "frac" -> {
                Node a = group(), b = group();
                return new Div(a, b);
            }
            case "binom" -> {
                Node a = group(), b = group();
                return new Fn("binom", List.of(a, b));
            }
            case "sqrt" -> {
                if (acceptOp("[")) {
                    enter();
                    try {
                        Node k = parseAdditive();
                        expectOp("]");
                        return new Fn("root", List.of(k, group()));
                    } finally {
                        depth--;
                    }
                }
                return new Fn("sqrt", List.of(group()));
            }
            case "pi" -> { return new Const(Const.Kind.PI); }
            case "infty", "infinity" -> { return new Const(Const.Kind.INFINITY); }
            case "emptyset", "varnothing" -> { return new SetLit(List.of()); }
            case "{" -> {
                enter();
                try {
                    List<Node> items = parseItems();
                    if (!peek().is(T.CMD, "}")) throw new AnswerParseException("unclosed \\{");
                    next();
                    return new SetLit(items);
                } finally {
                    depth--;
                }
            }
            case "lfloor", "lceil" -> {
                enter();
                try {
                    Node inner = parseAdditive();
                    Tok close = next();
                    if (!close.is(T.CMD, name.equals("lfloor") ? "rfloor" : "rceil")) throw new AnswerParseException("unclosed \\" + name);
                    return new Fn(name.equals("lfloor") ? "floor" : "ceil", List.of(inner));
                } finally {
                    depth--;
                }
            }
            case "boxed", "fbox", "mathrm", "mathbf", "displaystyle" -> { return group(); }
            default -> {
                if (FUNCTION_COMMANDS.contains(name)) return applyFunction(name);
                if (NOT_VALUES.contains(name) || REL_COMMANDS.containsKey(name)) throw new AnswerParseException("unexpected \\" + name);
                if (!name.isEmpty() && Character.isLetter(name.charAt(0))) return new Sym(name); // \alpha, \theta, ...
                throw new AnswerParseException("unexpected \\" + name);
            }
        }
    }

    /** {@code \sin^2 x}, {@code \log_2 8}, {@code \sin(x)}, {@code \gcd(12, 18)}, {@code \sin^{-1} x}. */
    private Node applyFunction(String name) {
        if (name.equals("lg")) name = "log";
        Node power = null, base = null;
        if (acceptOp("^")) power = parseExponent();
        if (name.equals("log") && acceptOp("_")) base = parseSubscript();
        if (power == null && acceptOp("^")) power = parseExponent();
        List<Node> args;
        if (peek().op("(")) {
            next();
            enter();
            try {
                args = parseItems();
                expectOp(")");
            } finally {
                depth--;
            }
        } else if (peek().op("{")) {
            args = List.of(group());
        } else {
            Node arg = parsePower();
            while (startsValue(peek()) && !isFunctionStart(peek()) && !peek().op("(") && !peek().op("|")) arg = new Mul(List.of(arg, parsePower()));
            args = List.of(arg);
        }
        if (args.isEmpty()) throw new AnswerParseException("\\" + name + " without an argument");
        boolean inverse = power instanceof Neg(Num one) && one.value().equals(Rational.ONE) && Set.of("sin", "cos", "tan").contains(name);
        if (inverse) { name = "arc" + name; power = null; }
        Node fn = switch (name) {
            case "log" -> new Fn("log", List.of(base == null ? new Num(Rational.of(10), -1) : base, args.getFirst()));
            default -> new Fn(name, args);
        };
        return power == null ? fn : new Pow(fn, power);
    }

    private boolean isFunctionStart(Tok t) { return t.type == T.CMD && FUNCTION_COMMANDS.contains(t.text) || t.type == T.FUNC; }

    private Node matrix(String env) {
        if (!env.endsWith("matrix") && !env.equals("array")) throw new AnswerParseException("unsupported environment " + env);
        enter();
        try {
            List<List<Node>> rows = new ArrayList<>();
            List<Node> row = new ArrayList<>();
            while (true) {
                Tok t = peek();
                if (t.type == T.END) {
                    next();
                    if (!row.isEmpty()) rows.add(row);
                    break;
                }
                if (t.type == T.EOF) throw new AnswerParseException("unclosed \\begin{" + env + "}");
                if (t.is(T.CMD, "\\\\")) { next(); if (!row.isEmpty()) rows.add(row); row = new ArrayList<>(); continue; }
                if (t.op("&")) { next(); continue; }
                row.add(parseRelation());
            }
            if (rows.isEmpty()) throw new AnswerParseException("empty matrix");
            int cols = rows.getFirst().size();
            for (List<Node> r : rows) if (r.size() != cols) throw new AnswerParseException("ragged matrix");
            return new Matrix(rows);
        } finally {
            depth--;
        }
    }
}
