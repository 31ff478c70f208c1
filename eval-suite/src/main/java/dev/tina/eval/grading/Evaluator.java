package dev.tina.eval.grading;

import dev.tina.eval.grading.Node.*;

import java.math.BigInteger;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Computes with the arithmetic part of a {@link Node}: exactly over the rationals when it can (sizes
 * capped, see {@link Rational#MAX_BITS}), else in double-precision complex numbers at given values of
 * the symbols.
 */
final class Evaluator {
    private Evaluator() {}

    private static final int MAX_FACTORIAL = 3000;

    /** The exact rational value, or null when the node is not a rational constant (or too large to compute). */
    static Rational exact(Node n) {
        try {
            return exactOrThrow(n);
        } catch (ArithmeticException | NotExact e) {
            return null;
        }
    }

    private static final class NotExact extends RuntimeException {
        NotExact() { super(null, null, false, false); }
    }

    private static Rational exactOrThrow(Node n) {
        Interrupts.check();
        return switch (n) {
            case Num x -> x.value();
            case Neg x -> exactOrThrow(x.arg()).negate();
            case Add x -> {
                Rational r = Rational.ZERO;
                for (Node t : x.terms()) r = r.add(exactOrThrow(t));
                yield r;
            }
            case Mul x -> {
                Rational r = Rational.ONE;
                for (Node t : x.factors()) r = r.multiply(exactOrThrow(t));
                yield r;
            }
            case Div x -> exactOrThrow(x.num()).divide(exactOrThrow(x.den()));
            case Percent x -> exactOrThrow(x.arg()).divide(Rational.of(100));
            case Pow x -> power(exactOrThrow(x.base()), exactOrThrow(x.exp()));
            case Fn f -> exactFunction(f);
            default -> throw new NotExact();
        };
    }

    private static Rational power(Rational base, Rational exp) {
        if (exp.isInteger()) return base.pow(exp.num());
        if (exp.den().bitLength() > 16) throw new NotExact();
        Rational root = base.root(exp.den().intValue());
        if (root == null) throw new NotExact();
        return root.pow(exp.num());
    }

    private static Rational exactFunction(Fn f) {
        List<Node> a = f.args();
        switch (f.name()) {
            case "sqrt" -> { return orThrow(exactOrThrow(a.getFirst()).root(2)); }
            case "root" -> {
                Rational k = exactOrThrow(a.get(0));
                if (!k.isInteger() || k.num().bitLength() > 16) throw new NotExact();
                return orThrow(exactOrThrow(a.get(1)).root(k.num().intValue()));
            }
            case "abs" -> { return exactOrThrow(a.getFirst()).abs(); }
            case "factorial", "factorial2" -> {
                Rational x = exactOrThrow(a.getFirst());
                if (!x.isInteger() || x.signum() < 0 || x.num().compareTo(BigInteger.valueOf(MAX_FACTORIAL)) > 0) throw new NotExact();
                int m = x.num().intValue();
                BigInteger r = BigInteger.ONE;
                for (int k = m; k > 1; k -= f.name().equals("factorial") ? 1 : 2) r = r.multiply(BigInteger.valueOf(k));
                return Rational.of(r);
            }
            case "binom" -> {
                Rational n = exactOrThrow(a.get(0)), k = exactOrThrow(a.get(1));
                if (!n.isInteger() || !k.isInteger() || n.num().bitLength() > 20 || k.num().bitLength() > 20) throw new NotExact();
                long nn = n.num().longValue(), kk = k.num().longValue();
                if (kk < 0 || (nn >= 0 && kk > nn)) return Rational.ZERO;
                BigInteger r = BigInteger.ONE;
                for (long i = 0; i < kk; i++) r = r.multiply(BigInteger.valueOf(nn - i)).divide(BigInteger.valueOf(i + 1));
                return Rational.of(r);
            }
            case "floor", "ceil" -> {
                Rational x = exactOrThrow(a.getFirst());
                BigInteger[] qr = x.num().divideAndRemainder(x.den());
                BigInteger q = qr[0];
                if (qr[1].signum() != 0) {
                    if (f.name().equals("floor") && x.signum() < 0) q = q.subtract(BigInteger.ONE);
                    if (f.name().equals("ceil") && x.signum() > 0) q = q.add(BigInteger.ONE);
                }
                return Rational.of(q);
            }
            case "gcd", "lcm" -> {
                BigInteger r = null;
                for (Node arg : a) {
                    Rational x = exactOrThrow(arg);
                    if (!x.isInteger()) throw new NotExact();
                    r = r == null ? x.num().abs() : f.name().equals("gcd") ? r.gcd(x.num())
                            : r.signum() == 0 ? BigInteger.ZERO : r.multiply(x.num().abs()).divide(r.gcd(x.num()));
                }
                return Rational.of(r);
            }
            case "max", "min" -> {
                Rational best = null;
                for (Node arg : a) {
                    Rational x = exactOrThrow(arg);
                    if (best == null || (f.name().equals("max") ? x.compareTo(best) > 0 : x.compareTo(best) < 0)) best = x;
                }
                return best;
            }
            case "log" -> { // log_b(x) exact when x is an integer power of b
                Rational b = exactOrThrow(a.get(0)), x = exactOrThrow(a.get(1));
                if (b.signum() <= 0 || x.signum() <= 0 || b.equals(Rational.ONE)) throw new NotExact();
                for (int k = -64; k <= 64; k++) if (b.pow(BigInteger.valueOf(k)).equals(x)) return Rational.of(k);
                throw new NotExact();
            }
            default -> throw new NotExact();
        }
    }

    private static Rational orThrow(Rational r) {
        if (r == null) throw new NotExact();
        return r;
    }

    /** Numeric value with symbols bound by {@code env}; NaN where undefined or not arithmetic. */
    static Complex numeric(Node n, Map<String, Complex> env) {
        Interrupts.check();
        return switch (n) {
            case Num x -> Complex.real(x.value().toDouble());
            case Sym x -> env.getOrDefault(x.name(), Complex.NAN);
            case Const x -> switch (x.kind()) {
                case PI -> Complex.real(Math.PI);
                case E -> Complex.real(Math.E);
                case I -> Complex.I;
                case INFINITY -> Complex.real(Double.POSITIVE_INFINITY);
            };
            case Neg x -> numeric(x.arg(), env).neg();
            case Add x -> {
                Complex r = Complex.real(0);
                for (Node t : x.terms()) r = r.add(numeric(t, env));
                yield r;
            }
            case Mul x -> {
                Complex r = Complex.real(1);
                for (Node t : x.factors()) r = r.mul(numeric(t, env));
                yield r;
            }
            case Div x -> numeric(x.num(), env).div(numeric(x.den(), env));
            case Pow x -> numeric(x.base(), env).pow(numeric(x.exp(), env));
            case Percent x -> numeric(x.arg(), env).div(Complex.real(100));
            case Fn f -> function(f, env);
            default -> Complex.NAN;
        };
    }

    private static Complex function(Fn f, Map<String, Complex> env) {
        List<Node> a = f.args();
        Complex x = numeric(a.getFirst(), env);
        return switch (f.name()) {
            case "sqrt" -> x.sqrt();
            case "root" -> numeric(a.get(1), env).root(x);
            case "sin" -> x.sin();
            case "cos" -> x.cos();
            case "tan" -> x.tan();
            case "cot" -> Complex.real(1).div(x.tan());
            case "sec" -> Complex.real(1).div(x.cos());
            case "csc" -> Complex.real(1).div(x.sin());
            case "arcsin" -> x.asin();
            case "arccos" -> x.acos();
            case "arctan" -> x.atan();
            case "sinh" -> x.sinh();
            case "cosh" -> x.cosh();
            case "tanh" -> x.sinh().div(x.cosh());
            case "ln" -> x.log();
            case "log" -> numeric(a.get(1), env).log().div(x.log());
            case "exp" -> x.exp();
            case "abs" -> Complex.real(x.abs());
            case "floor" -> x.isReal() ? Complex.real(Math.floor(x.re())) : Complex.NAN;
            case "ceil" -> x.isReal() ? Complex.real(Math.ceil(x.re())) : Complex.NAN;
            case "factorial" -> x.add(Complex.real(1)).gamma();
            case "binom" -> {
                Complex k = numeric(a.get(1), env);
                yield x.add(Complex.real(1)).gamma().div(k.add(Complex.real(1)).gamma().mul(x.sub(k).add(Complex.real(1)).gamma()));
            }
            case "max", "min", "gcd", "lcm", "factorial2" -> {
                Rational r = exact(f);
                yield r == null ? Complex.NAN : Complex.real(r.toDouble());
            }
            default -> undefinedFunction(f, env);
        };
    }

    /** An undefined f(x, y) is a fixed smooth function of its arguments chosen by its name: f(x) = f(x), f(x) ≠ f(y). */
    private static Complex undefinedFunction(Fn f, Map<String, Complex> env) {
        int h = f.name().hashCode();
        Complex r = Complex.real(0.3 + (h & 7) * 0.1);
        for (int i = 0; i < f.args().size(); i++) {
            double w = 0.7 + ((h >>> (3 + 4 * i)) & 15) * 0.13;
            r = r.add(numeric(f.args().get(i), env).mul(Complex.real(w)).add(Complex.real(0.5 + i)).sin());
        }
        return r;
    }

    /** Free symbols, in order of appearance (names of undefined functions are not symbols, their arguments are). */
    static Set<String> symbols(Node n) {
        Set<String> out = new LinkedHashSet<>();
        collect(n, out);
        return out;
    }

    private static void collect(Node n, Set<String> out) {
        switch (n) {
            case Sym x -> out.add(x.name());
            case Add x -> x.terms().forEach(t -> collect(t, out));
            case Mul x -> x.factors().forEach(t -> collect(t, out));
            case Neg x -> collect(x.arg(), out);
            case Div x -> { collect(x.num(), out); collect(x.den(), out); }
            case Pow x -> { collect(x.base(), out); collect(x.exp(), out); }
            case Fn x -> x.args().forEach(t -> collect(t, out));
            case Percent x -> collect(x.arg(), out);
            case PlusMinus x -> { if (x.left() != null) collect(x.left(), out); collect(x.right(), out); }
            case Bracket x -> x.items().forEach(t -> collect(t, out));
            case SetLit x -> x.items().forEach(t -> collect(t, out));
            case Matrix x -> x.rows().forEach(r -> r.forEach(t -> collect(t, out)));
            default -> { }
        }
    }

    /**
     * A name rather than a value ({@code x}, {@code f(x)}, {@code |AB|}, {@code NO/BO}, {@code A:B}, {@code (p,q)}):
     * symbols only, no numbers. Such a left-hand side is a label ("k = 1/3").
     */
    static boolean onlySymbols(Node n) {
        return switch (n) {
            case Sym x -> true;
            case Mul x -> x.factors().stream().allMatch(Evaluator::onlySymbols);
            case Div x -> onlySymbols(x.num()) && onlySymbols(x.den());
            case Add x -> x.terms().stream().allMatch(Evaluator::onlySymbols);
            case Fn x -> (x.name().equals("abs") || !x.known()) && x.args().stream().allMatch(Evaluator::onlySymbols);
            case Bracket x -> x.items().stream().allMatch(Evaluator::onlySymbols);
            // f^{-1}(x): an inverse function's name (only f, g, h: x^{-1} is a value)
            case Pow(Sym f, Neg(Num one)) when f.name().matches("[fgh]") && one.value().equals(Rational.of(1)) -> true;
            default -> false;
        };
    }

    /** Decimal places of a plain literal ({@code 0.33}, {@code -2.5}, {@code 7.5%}); -1 for anything else. */
    static int literalDecimals(Node n) {
        return switch (n) {
            case Num x -> x.decimals();
            case Neg x -> literalDecimals(x.arg());
            case Percent x -> literalDecimals(x.arg());
            default -> -1;
        };
    }

    static boolean isArithmetic(Node n) {
        return switch (n) {
            case Num x -> true;
            case Sym x -> true;
            case Const x -> true;
            case Add x -> x.terms().stream().allMatch(Evaluator::isArithmetic);
            case Mul x -> x.factors().stream().allMatch(Evaluator::isArithmetic);
            case Neg x -> isArithmetic(x.arg());
            case Div x -> isArithmetic(x.num()) && isArithmetic(x.den());
            case Pow x -> isArithmetic(x.base()) && isArithmetic(x.exp());
            case Fn x -> x.args().stream().allMatch(Evaluator::isArithmetic);
            case Percent x -> isArithmetic(x.arg());
            case PlusMinus x -> (x.left() == null || isArithmetic(x.left())) && isArithmetic(x.right());
            default -> false;
        };
    }

    static boolean isInfinite(Node n) {
        return n instanceof Const(Const.Kind k) && k == Const.Kind.INFINITY
                || n instanceof Neg(Node a) && isInfinite(a);
    }
}
