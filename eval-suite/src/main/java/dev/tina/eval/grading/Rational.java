package dev.tina.eval.grading;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;

/** An exact rational number in lowest terms with a positive denominator. */
record Rational(BigInteger num, BigInteger den) implements Comparable<Rational> {
    static final Rational ZERO = new Rational(BigInteger.ZERO, BigInteger.ONE);
    static final Rational ONE = new Rational(BigInteger.ONE, BigInteger.ONE);
    /** Results above this many bits are refused: a grader must not be made to build a googolplex. */
    static final int MAX_BITS = 200_000;

    Rational {
        if (den.signum() == 0) throw new ArithmeticException("division by zero");
        if (den.signum() < 0) { num = num.negate(); den = den.negate(); }
        BigInteger g = num.gcd(den);
        if (!g.equals(BigInteger.ONE) && g.signum() != 0) { num = num.divide(g); den = den.divide(g); }
        if (num.bitLength() > MAX_BITS || den.bitLength() > MAX_BITS) throw new ArithmeticException("number too large");
    }

    static Rational of(long n) { return new Rational(BigInteger.valueOf(n), BigInteger.ONE); }

    static Rational of(BigInteger n) { return new Rational(n, BigInteger.ONE); }

    /** Parses a plain decimal literal ("12", "0.25", ".5"). */
    static Rational parseDecimal(String s) {
        BigDecimal d = new BigDecimal(s.startsWith(".") ? "0" + s : s);
        if (d.scale() <= 0) return of(d.toBigIntegerExact());
        return new Rational(d.unscaledValue(), BigInteger.TEN.pow(d.scale()));
    }

    boolean isInteger() { return den.equals(BigInteger.ONE); }

    int signum() { return num.signum(); }

    Rational add(Rational o) { return new Rational(num.multiply(o.den).add(o.num.multiply(den)), den.multiply(o.den)); }

    Rational subtract(Rational o) { return add(o.negate()); }

    Rational multiply(Rational o) { return new Rational(num.multiply(o.num), den.multiply(o.den)); }

    Rational divide(Rational o) { return new Rational(num.multiply(o.den), den.multiply(o.num)); }

    Rational negate() { return new Rational(num.negate(), den); }

    Rational abs() { return signum() < 0 ? negate() : this; }

    /** Integer power; refuses exponents whose result would exceed {@link #MAX_BITS}. */
    Rational pow(BigInteger e) {
        if (e.signum() < 0) return ONE.divide(pow(e.negate()));
        if (num.abs().compareTo(BigInteger.ONE) <= 0 && den.equals(BigInteger.ONE)) {
            // 0, 1, -1: any exponent is cheap
            if (num.signum() == 0) return e.signum() == 0 ? ONE : ZERO;
            return num.signum() > 0 || !e.testBit(0) ? ONE : of(-1);
        }
        long bits = Math.max(num.bitLength(), den.bitLength());
        if (e.bitLength() > 31 || bits * e.longValue() > MAX_BITS) throw new ArithmeticException("power too large");
        int n = e.intValue();
        return new Rational(num.pow(n), den.pow(n));
    }

    /** The exact k-th root when there is one (e.g. 8^(1/3) = 2), else null. */
    Rational root(int k) {
        if (k <= 0) return null;
        if (signum() < 0) {
            if (k % 2 == 0) return null;
            Rational r = negate().root(k);
            return r == null ? null : r.negate();
        }
        BigInteger a = intRoot(num, k), b = intRoot(den, k);
        return a == null || b == null ? null : new Rational(a, b);
    }

    private static BigInteger intRoot(BigInteger n, int k) {
        if (n.signum() == 0) return BigInteger.ZERO;
        BigInteger r = k == 2 ? n.sqrt() : BigDecimal.valueOf(Math.pow(n.doubleValue(), 1.0 / k)).setScale(0, java.math.RoundingMode.HALF_UP).toBigInteger();
        if (k != 2 && n.bitLength() > 900) return null; // double estimate is useless there
        for (BigInteger c = r.subtract(BigInteger.ONE).max(BigInteger.ZERO); c.compareTo(r.add(BigInteger.ONE)) <= 0; c = c.add(BigInteger.ONE)) {
            if (c.pow(k).equals(n)) return c;
        }
        return null;
    }

    double toDouble() {
        double d = num.doubleValue() / den.doubleValue();
        if (Double.isFinite(d) && !Double.isNaN(d)) return d;
        return new BigDecimal(num).divide(new BigDecimal(den), MathContext.DECIMAL64).doubleValue();
    }

    BigDecimal toBigDecimal(MathContext mc) { return new BigDecimal(num).divide(new BigDecimal(den), mc); }

    @Override
    public int compareTo(Rational o) { return num.multiply(o.den).compareTo(o.num.multiply(den)); }

    @Override
    public String toString() { return isInteger() ? num.toString() : num + "/" + den; }
}
