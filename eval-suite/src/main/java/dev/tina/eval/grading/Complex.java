package dev.tina.eval.grading;

/** A double-precision complex number for evaluating answers at sample points (principal branches). */
record Complex(double re, double im) {
    static final Complex NAN = new Complex(Double.NaN, Double.NaN);
    static final Complex I = new Complex(0, 1);

    static Complex real(double x) { return new Complex(x, 0); }

    boolean isFinite() { return Double.isFinite(re) && Double.isFinite(im); }

    boolean isReal() { return Math.abs(im) <= 1e-12 * Math.max(1, Math.abs(re)); }

    double abs() { return Math.hypot(re, im); }

    Complex add(Complex o) { return new Complex(re + o.re, im + o.im); }

    Complex sub(Complex o) { return new Complex(re - o.re, im - o.im); }

    Complex neg() { return new Complex(-re, im == 0 ? 0.0 : -im); } // no -0.0: sqrt(-1) must be +i

    Complex mul(Complex o) { return new Complex(re * o.re - im * o.im, re * o.im + im * o.re); }

    Complex div(Complex o) {
        double d = o.re * o.re + o.im * o.im;
        if (d == 0) return NAN;
        return new Complex((re * o.re + im * o.im) / d, (im * o.re - re * o.im) / d);
    }

    Complex exp() {
        double m = Math.exp(re);
        return im == 0 ? real(m) : new Complex(m * Math.cos(im), m * Math.sin(im));
    }

    Complex log() { return new Complex(Math.log(abs()), Math.atan2(im, re)); }

    Complex sqrt() {
        if (im == 0 && re >= 0) return real(Math.sqrt(re));
        double m = abs();
        double a = Math.sqrt((m + re) / 2), b = Math.copySign(Math.sqrt((m - re) / 2), im);
        return new Complex(a, b);
    }

    Complex pow(Complex e) {
        if (e.im == 0 && e.re == Math.rint(e.re) && Math.abs(e.re) <= 64) {
            // exact-ish integer powers keep negative bases real
            int n = (int) e.re;
            Complex r = real(1), b = this;
            for (int k = Math.abs(n); k > 0; k >>= 1, b = b.mul(b)) if ((k & 1) == 1) r = r.mul(b);
            return n >= 0 ? r : real(1).div(r);
        }
        if (im == 0 && e.im == 0 && re >= 0) return real(Math.pow(re, e.re));
        if (re == 0 && im == 0) return e.re > 0 ? real(0) : NAN;
        return e.mul(log()).exp();
    }

    /** Real n-th root for odd n and negative reals (as in "∛-8 = -2"), principal root otherwise. */
    Complex root(Complex n) {
        if (isReal() && re < 0 && n.isReal() && n.re == Math.rint(n.re) && ((long) n.re) % 2 != 0) {
            return real(-Math.pow(-re, 1 / n.re));
        }
        return pow(real(1).div(n));
    }

    Complex sin() { return new Complex(Math.sin(re) * Math.cosh(im), Math.cos(re) * Math.sinh(im)); }

    Complex cos() { return new Complex(Math.cos(re) * Math.cosh(im), -Math.sin(re) * Math.sinh(im)); }

    Complex tan() { return sin().div(cos()); }

    Complex sinh() { return exp().sub(neg().exp()).mul(real(0.5)); }

    Complex cosh() { return exp().add(neg().exp()).mul(real(0.5)); }

    Complex asin() { return isReal() && Math.abs(re) <= 1 ? real(Math.asin(re)) : NAN; }

    Complex acos() { return isReal() && Math.abs(re) <= 1 ? real(Math.acos(re)) : NAN; }

    Complex atan() { return isReal() ? real(Math.atan(re)) : NAN; }

    /** Γ(z): Stirling's series after shifting Re z above 15 (relative error ~1e-14), reflection for Re z &lt; 1/2. */
    Complex gamma() {
        if (re < 0.5) {
            Complex s = real(Math.PI).mul(this).sin();
            return real(Math.PI).div(s.mul(real(1).sub(this).gamma()));
        }
        Complex z = this, shift = real(1);
        while (z.re < 15) {
            shift = shift.mul(z);
            z = z.add(real(1));
        }
        Complex inv = real(1).div(z), inv2 = inv.mul(inv);
        // 1/(12z) - 1/(360z^3) + 1/(1260z^5) - 1/(1680z^7) + 1/(1188z^9)
        Complex series = inv.mul(real(1.0 / 12).add(inv2.mul(real(-1.0 / 360).add(inv2.mul(real(1.0 / 1260)
                .add(inv2.mul(real(-1.0 / 1680).add(inv2.mul(real(1.0 / 1188))))))))));
        Complex logGamma = z.sub(real(0.5)).mul(z.log()).sub(z).add(real(0.5 * Math.log(2 * Math.PI))).add(series);
        return logGamma.exp().div(shift);
    }
}
