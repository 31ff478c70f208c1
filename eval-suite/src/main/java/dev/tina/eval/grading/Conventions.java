package dev.tina.eval.grading;

/**
 * The debatable choices of the grader, each documented in eval-suite/README.md. {@link #TINA} is the default;
 * {@link #MATH_VERIFY} reproduces Math-Verify's defaults (what lighteval, and so the Tina paper's numbers, used).
 *
 * @param percentSignOptional      "25%" also equals "25" (the sign left off); 25% always equals 0.25 (Math-Verify
 *                                 reads X% as X/100 only)
 * @param setMatchesRelation       a gold interval or set equals an inequality ("(-∞, 3)" vs "x < 3"); a gold
 *                                 inequality against an interval prediction is accepted in both modes
 * @param dependentNameIgnored     in a formula the name of the dependent variable or function does not matter
 *                                 ("y = t^2 - 1" vs "g(t) = t^2 - 1"); a named constant keeps its name (x = 5 vs y = 5)
 * @param roundedDecimals          beyond agreement to six places, a correctly rounded decimal of two places or more
 *                                 answers a fraction with no exact decimal (0.33 for 1/3), and an exact value answers a
 *                                 gold rounded to two places or more (70/9 for 7.78); Math-Verify: six places only
 */
public record Conventions(boolean percentSignOptional, boolean setMatchesRelation, boolean dependentNameIgnored, boolean roundedDecimals) {
    public static final Conventions TINA = new Conventions(true, true, true, true);
    public static final Conventions MATH_VERIFY = new Conventions(false, false, false, false);

    /** By name: "tina" or "math-verify". */
    public static Conventions named(String name) {
        return switch (name.strip().toLowerCase(java.util.Locale.ROOT).replace("_", "-")) {
            case "tina" -> TINA;
            case "math-verify", "mathverify" -> MATH_VERIFY;
            default -> throw new IllegalArgumentException("unknown grading conventions '" + name + "': expected tina or math-verify");
        };
    }
}
