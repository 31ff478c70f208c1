package dev.tina.eval.grading;

import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Cleans an extracted answer into LaTeX the {@link ExpressionParser} reads: drops presentation
 * ({@code \left}, spacing, {@code \displaystyle}, degrees, units, currency), unifies spellings
 * ({@code \dfrac}, {@code \le}, unicode), turns "and"/"or" between answers into commas, joins
 * thousands separators and completes shorthand arguments ({@code \frac12}, {@code \sqrt2}).
 * Pure string work; the result keeps the meaning, not the look.
 */
final class LatexNormalizer {
    private LatexNormalizer() {}

    /** Words after a number that are units, not variables (singular; plural "s"/"es" is also accepted). */
    private static final Set<String> UNIT_WORDS = Set.of(
            "cm", "mm", "km", "m", "meter", "metre", "centimeter", "millimeter", "kilometer", "inch", "inche",
            "foot", "feet", "ft", "yard", "yd", "mile", "mi", "mph", "kmh", "kph", "kg", "g", "gram", "kilogram",
            "mg", "lb", "pound", "ounce", "oz", "ton", "tonne", "l", "liter", "litre", "ml", "gallon", "gal",
            "s", "sec", "second", "min", "minute", "h", "hr", "hour", "day", "week", "month", "year", "yr",
            "dollar", "cent", "euro", "yuan", "rupee", "rs", "unit", "sq", "square", "cubic", "cu", "degree",
            "deg", "radian", "rad", "point", "people", "person", "student", "item", "apple", "page", "way",
            "time", "child", "children", "coin", "ticket", "car", "book", "marble", "ball", "box", "tile");
    private static final Pattern UNICODE = Pattern.compile("[−–—×÷·⋅≤≥≠π√∞∪∩∈±∓°′’‘“”…\\u00a0\\u2009\\u202f]");
    private static final Pattern SIZED_DELIMS = Pattern.compile("\\\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|bigg|Bigg|big|Big|middle)(?![a-zA-Z])\\s*\\.?");
    private static final Pattern SPACES = Pattern.compile("(?<!\\\\)\\\\(?:qquad|quad|enspace|thinspace|medspace|thickspace|hspace\\*?\\{[^}]*\\}|vspace\\*?\\{[^}]*\\}|[,;: ])|~");
    private static final Pattern DEGREES = Pattern.compile("\\^\\s*\\{?\\s*\\\\circ\\s*\\}?|\\\\text\\{\\s*(?:°|\\\\textdegree)\\s*}|\\\\(?:text)?degree(?![a-zA-Z])|°|\\\\text\\{\\s*degrees?\\s*\\}");
    private static final Pattern TEXT_LIKE = Pattern.compile("\\\\(?:textbf|textit|textrm|textnormal|textsf|texttt|mathrm|mathbf|mathit|mathsf|mathtt|mathnormal|boldsymbol|bm|mbox|hbox|text)\\s*\\{");
    /** {@code 5\operatorname{cm}}: an operator name after a number, ending the answer or a list item, is a unit set upright, like text. */
    private static final Pattern OPERATOR_NAME_UNIT = Pattern.compile("(?<=[\\d}\\s])\\\\operatorname\\*?\\s*\\{\\s*([A-Za-z][A-Za-z .]*)\\}(?=\\s*(?:$|[,;^]))");
    private static final Pattern PERCENT_WORD = Pattern.compile("\\s*(?:\\\\text\\{\\s*(?:percent(?:age)?|pct)\\s*\\}|\\b(?:percent(?:age)?|pct)\\b)", Pattern.CASE_INSENSITIVE);
    private static final Pattern TEXT_CONNECTOR = Pattern.compile(",?\\s*\\\\text\\{\\s*,?\\s*(?:and|or)\\s*\\}\\s*,?");
    private static final Pattern WORD_CONNECTOR = Pattern.compile("\\s*,?\\s*(?<![A-Za-z\\\\])(?:and|or)(?![A-Za-z])\\s*,?\\s*");
    static final Pattern GLUED_CONNECTOR = Pattern.compile("(?<=[0-9)\\]}])(?:and|or)(?=[-+\\\\(\\[{A-Za-z0-9])");
    private static final Pattern COMMAND_ESCAPE = Pattern.compile("\\\\\\\\(?=[a-zA-Z])");
    private static final Pattern THOUSANDS_COMMA = Pattern.compile("[-+]?\\d{1,3}(?:,\\d{3})+(?:\\.\\d+)?");
    private static final Pattern THOUSANDS_SPACE = Pattern.compile("(?<![\\d.])(\\d{1,3})((?: \\d{3})+)(?![\\d])");
    private static final Pattern DECIMAL_COMMA = Pattern.compile("[-+]?\\d+,(?:\\d{2}|\\d{4,})");
    private static final Pattern CURRENCY = Pattern.compile("\\\\\\$|\\$|€|£|¥|₹|\\\\euro|\\\\pounds|(?<![A-Za-z])Rs\\.?(?=\\s*\\d)");
    private static final Pattern TRAILING_TEXT_UNIT = Pattern.compile("\\\\text\\{\\s*([A-Za-z][A-Za-z .²³/^0-9]*)\\}(?:\\s*\\^\\s*\\{?\\s*\\d\\s*\\}?)?");
    private static final Pattern TRAILING_WORD_UNIT = Pattern.compile("(?<=[\\d}\\s])\\s*([A-Za-z]+)(?:\\s*(?:\\^\\s*\\{?\\d\\}?|[²³]))?\\s*$");
    /** {@code 12{,}345} groups thousands; {@code 3{,}5} is a decimal comma (how LaTeX writes one without a space). */
    private static final Pattern BRACED_COMMA = Pattern.compile("(?<=\\d)\\{,}(\\d+)");
    private static final Pattern TRIG = Pattern.compile("\\\\?(?:sin|cos|tan|cot|sec|csc)(?![a-zA-Z])");
    private static final Pattern TEXT_GROUP = Pattern.compile("\\\\text\\{[^{}]*}");
    /** A number with its unit set as text: {@code \text{4 cm}} is the number 4 and a unit, not a word answer. */
    private static final Pattern TEXT_NUMBER = Pattern.compile("\\\\text\\{\\s*([-+]?\\d[\\d.,]*(?:\\s*[A-Za-z][A-Za-z ./^0-9]*)?)\\s*}");
    /** "2 3/4" in plain writing is a mixed number. */
    private static final Pattern PLAIN_MIXED = Pattern.compile("(?<![\\d.,/])(\\d+)\\s+(\\d+)\\s*/\\s*(\\d+)(?![\\d./])");
    private static final Pattern DOTS = Pattern.compile(",?\\s*\\\\(?:ldots|cdots|dots|dotsc|dotsb)(?![a-zA-Z])\\s*,?");
    /** Python in gold answers ("np.arcsin(10/13)"). */
    private static final Pattern PYTHON_MODULE = Pattern.compile("\\b(?:np|numpy|math|sympy|sp)\\.(?=[a-z])");
    private static final Pattern REPEATING = Pattern.compile("(\\d*)\\.(\\d*)\\\\overline\\{(\\d+)}");
    /** {@code \{x \mid x > 2\}} reads as its condition. */
    private static final Pattern SET_BUILDER = Pattern.compile("^\\\\\\{\\s*[A-Za-z]\\s*(?:\\||:)\\s*(.+)\\\\}$");
    private static final List<String[]> LITERAL = List.of(
            new String[]{"\\dfrac", "\\frac"}, new String[]{"\\tfrac", "\\frac"}, new String[]{"\\cfrac", "\\frac"},
            new String[]{"\\dbinom", "\\binom"}, new String[]{"\\tbinom", "\\binom"},
            new String[]{"\\displaystyle", ""}, new String[]{"\\textstyle", ""}, new String[]{"\\scriptstyle", ""},
            new String[]{"\\!", ""}, new String[]{"{,}", ","}, new String[]{"\\%", "%"},
            new String[]{"\\lbrace", "\\{"}, new String[]{"\\rbrace", "\\}"}, new String[]{"\\lbrack", "["},
            new String[]{"\\rbrack", "]"}, new String[]{"\\langle", "("}, new String[]{"\\rangle", ")"},
            new String[]{"\\lvert", "|"}, new String[]{"\\rvert", "|"}, new String[]{"\\vert", "|"},
            new String[]{"\\mid", "|"}, new String[]{"\\|", "|"}, new String[]{"\\hline", ""},
            new String[]{"\\leqslant", "\\le"}, new String[]{"\\geqslant", "\\ge"}, new String[]{"\\dagger", ""});

    /**
     * Normalizes one answer.
     *
     * @param plainText true when the answer came from plain text rather than a LaTeX context: there
     *                  "1,22" is a decimal comma (in LaTeX it is the set {1, 22})
     */
    static String normalize(String s, boolean plainText) {
        s = s.replace('\n', ' ').replace('\t', ' ').replace('\r', ' ').replace('\f', ' ');
        if (doublyEscaped(s)) s = s.replace("\\\\", "\\"); // escaped once more (copied from JSON)
        else if (!s.contains("\\begin")) s = COMMAND_ESCAPE.matcher(s).replaceAll("\\\\");
        if (s.contains("\\begin{")) s = displayEnvironments(s);
        s = unicode(s);
        s = PYTHON_MODULE.matcher(s).replaceAll("");
        if (s.contains("{,}")) s = BRACED_COMMA.matcher(s).replaceAll(m -> m.group(1).length() == 3 ? "$1" : ".$1");
        for (String[] r : LITERAL) s = s.replace(r[0], r[1]);
        s = SIZED_DELIMS.matcher(s).replaceAll("");
        s = s.replace("\\(", "").replace("\\)", "").replace("\\[", "").replace("\\]", "");
        // inside a trigonometric function a degree is an angle unit (sin 30° = 1/2); elsewhere only a label
        s = DEGREES.matcher(s).replaceAll(TRIG.matcher(s).find() ? "\\\\frac{\\\\pi}{180}" : "");
        s = CURRENCY.matcher(s).replaceAll("");
        s = TEXT_LIKE.matcher(s).replaceAll("\\\\text{");
        s = OPERATOR_NAME_UNIT.matcher(s).replaceAll(m -> Matcher.quoteReplacement("\\text{" + m.group(1) + "}"));
        // spacing commands inside a text group ("\text{5\ dollars}") are spaces before the group is read as a number
        s = TEXT_GROUP.matcher(s).replaceAll(m -> Matcher.quoteReplacement(SPACES.matcher(m.group()).replaceAll(" ")));
        s = TEXT_NUMBER.matcher(s).replaceAll(m -> Matcher.quoteReplacement(m.group(1).strip()));
        s = PERCENT_WORD.matcher(s).replaceAll("%");
        s = s.replace("\\text{%}", "%");
        s = TEXT_CONNECTOR.matcher(s).replaceAll(",");
        s = SPACES.matcher(s).replaceAll(" ");
        s = DOTS.matcher(s).replaceAll(",");
        s = WORD_CONNECTOR.matcher(s).replaceAll(",");
        s = GLUED_CONNECTOR.matcher(s).replaceAll(",");
        s = s.replace("\\\\", " \\\\ ").replaceAll("\\s+", " ").trim();
        s = trimPunctuation(s);
        s = stripUnits(s);
        s = completeShorthandArguments(s);
        s = repeatingDecimals(s);
        s = SET_BUILDER.matcher(s).replaceAll("$1");
        s = mixedNumbers(s);
        s = joinThousands(s, plainText);
        return trimPunctuation(s);
    }

    /**
     * Every command written with two backslashes ({@code \\frac}, {@code \\begin}) and none with one: the text was
     * escaped once more (copied out of JSON or a Python string), so "\\\\" is a row break and "\\" a command.
     */
    static boolean doublyEscaped(String s) {
        boolean doubled = false;
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) != '\\') continue;
            int j = i;
            while (j < s.length() && s.charAt(j) == '\\') j++;
            if (j < s.length() && Character.isLetter(s.charAt(j))) {
                if ((j - i) % 2 == 1) return false;
                doubled |= j - i == 2;
            }
            i = j;
        }
        return doubled;
    }

    private static String unicode(String s) {
        if (!UNICODE.matcher(s).find()) return s;
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            b.append(switch (c) {
                case '−', '–', '—' -> "-";
                case '×', '·', '⋅' -> "\\cdot ";
                case '÷' -> "/";
                case '≤' -> "\\le ";
                case '≥' -> "\\ge ";
                case '≠' -> "\\ne ";
                case 'π' -> "\\pi ";
                case '√' -> "\\sqrt";
                case '∞' -> "\\infty ";
                case '∪' -> "\\cup ";
                case '∩' -> "\\cap ";
                case '∈' -> "\\in ";
                case '±' -> "\\pm ";
                case '∓' -> "\\mp ";
                case '°' -> "°";
                case '′', '’', '‘' -> "'";
                case '“', '”' -> "\"";
                case '…' -> "\\ldots ";
                case '\u00a0', '\u2009', '\u202f' -> " ";
                default -> String.valueOf(c);
            });
        }
        return b.toString();
    }

    private static String trimPunctuation(String s) {
        s = s.strip();
        while (!s.isEmpty()) {
            char last = s.charAt(s.length() - 1);
            boolean escaped = s.length() >= 2 && s.charAt(s.length() - 2) == '\\';
            if ((last == '.' || last == ',' || last == ';' || last == ':') && !escaped) s = s.substring(0, s.length() - 1).strip();
            else if (s.endsWith("\\\\")) s = s.substring(0, s.length() - 2).strip();
            else if (last == '\\') s = s.substring(0, s.length() - 1).strip(); // a lone trailing backslash: debris of a cut
            else break;
        }
        while (!s.isEmpty() && (s.charAt(0) == ',' || s.charAt(0) == ':')) s = s.substring(1).strip();
        return s;
    }

    /** Drops unit words ("15 \text{ cm}^2", "5 miles") when a number stays; a lone word stays (it is the answer). */
    static String stripUnits(String s) {
        Matcher t = TRAILING_TEXT_UNIT.matcher(s);
        StringBuilder b = new StringBuilder();
        boolean changed = false;
        while (t.find()) {
            String words = t.group(1).strip().toLowerCase(Locale.ROOT);
            boolean afterValue = t.start() > 0 && isValueEnd(s, t.start());
            if (afterValue && !words.isEmpty() && !words.matches("(?:and|or|i|e)")) {
                t.appendReplacement(b, "");
                changed = true;
            } else {
                t.appendReplacement(b, Matcher.quoteReplacement(t.group()));
            }
        }
        t.appendTail(b);
        if (changed && b.toString().matches(".*\\d.*")) s = b.toString().strip();
        for (int i = 0; i < 4; i++) { // "60 miles per hour", "5 square meters"
            Matcher w = TRAILING_WORD_UNIT.matcher(s);
            if (!w.find()) break;
            String word = w.group(1).toLowerCase(Locale.ROOT);
            String stem = word.endsWith("es") && UNIT_WORDS.contains(word.substring(0, word.length() - 2)) ? word.substring(0, word.length() - 2)
                    : word.endsWith("s") && word.length() > 1 ? word.substring(0, word.length() - 1) : word;
            if (!UNIT_WORDS.contains(word) && !UNIT_WORDS.contains(stem) && !(i > 0 && word.equals("per"))) break;
            if (word.length() == 1 && !Character.isWhitespace(s.charAt(w.start()))) break;
            String rest = s.substring(0, w.start()).strip();
            // "5m" with a lone unit letter glued to a symbol would be a product: only strip after a digit or brace
            if (rest.isEmpty() || !rest.matches(".*\\d.*") || !(Character.isDigit(rest.charAt(rest.length() - 1)) || rest.endsWith("}") || rest.endsWith(")") || rest.endsWith("%"))) break;
            s = rest;
        }
        return s;
    }

    private static boolean isValueEnd(String s, int at) {
        int i = at - 1;
        while (i >= 0 && s.charAt(i) == ' ') i--;
        if (i < 0) return false;
        char c = s.charAt(i);
        return Character.isLetterOrDigit(c) || c == '}' || c == ')' || c == '%' || c == ']';
    }

    /** {@code \frac12 → \frac{1}{2}}, {@code \sqrt2 → \sqrt{2}}, {@code \frac{1}2}, {@code \sqrt \pi}. */
    static String completeShorthandArguments(String s) {
        if (!s.contains("\\frac") && !s.contains("\\sqrt") && !s.contains("\\binom")) return s;
        StringBuilder out = new StringBuilder(s.length() + 8);
        int i = 0;
        while (i < s.length()) {
            String cmd = s.startsWith("\\frac", i) ? "\\frac" : s.startsWith("\\binom", i) ? "\\binom" : s.startsWith("\\sqrt", i) ? "\\sqrt" : null;
            int after = cmd == null ? -1 : i + cmd.length();
            if (cmd == null || (after < s.length() && Character.isLetter(s.charAt(after)) && !isShorthandLetter(s, after))) {
                out.append(s.charAt(i++));
                continue;
            }
            out.append(cmd);
            i = after;
            int args = cmd.equals("\\sqrt") ? 1 : 2;
            if (cmd.equals("\\sqrt")) {
                while (i < s.length() && s.charAt(i) == ' ') i++;
                if (i < s.length() && s.charAt(i) == '[') {
                    int close = s.indexOf(']', i);
                    if (close < 0) break;
                    out.append(s, i, close + 1);
                    i = close + 1;
                }
            }
            for (int a = 0; a < args; a++) {
                while (i < s.length() && s.charAt(i) == ' ') i++;
                if (i >= s.length()) break;
                char c = s.charAt(i);
                if (c == '{') {
                    int close = matchingBrace(s, i);
                    if (close < 0) { out.append(s.substring(i)); return out.toString(); }
                    out.append(s, i, close + 1);
                    i = close + 1;
                } else if (c == '\\') {
                    int j = i + 1;
                    while (j < s.length() && Character.isLetter(s.charAt(j))) j++;
                    out.append('{').append(s, i, j).append('}');
                    i = j;
                } else if (Character.isLetterOrDigit(c)) {
                    out.append('{').append(c).append('}');
                    i++;
                } else {
                    break;
                }
            }
        }
        return out.toString();
    }

    private static boolean isShorthandLetter(String s, int at) {
        // "\fracab" is \frac{a}{b}, but "\sqrtx" is not LaTeX; accept a single letter followed by a non-letter
        return at + 1 >= s.length() || !Character.isLetter(s.charAt(at + 1)) || s.startsWith("\\frac", at - 5);
    }

    static int matchingBrace(String s, int open) {
        int depth = 0;
        for (int i = open; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\') { i++; continue; }
            if (c == '{') depth++;
            else if (c == '}' && --depth == 0) return i;
        }
        return -1;
    }

    /** {@code 0.1\overline{6}} → {@code \frac{1}{6}}. */
    private static String repeatingDecimals(String s) {
        if (!s.contains("\\overline")) return s;
        Matcher m = REPEATING.matcher(s);
        StringBuilder b = new StringBuilder();
        while (m.find()) {
            String whole = m.group(1).isEmpty() ? "0" : m.group(1), fixed = m.group(2), rep = m.group(3);
            if (fixed.length() + rep.length() > 30) { m.appendReplacement(b, Matcher.quoteReplacement(m.group())); continue; }
            java.math.BigInteger all = new java.math.BigInteger(fixed + rep), head = fixed.isEmpty() ? java.math.BigInteger.ZERO : new java.math.BigInteger(fixed);
            java.math.BigInteger den = java.math.BigInteger.TEN.pow(rep.length()).subtract(java.math.BigInteger.ONE).multiply(java.math.BigInteger.TEN.pow(fixed.length()));
            Rational r = new Rational(all.subtract(head), den).add(Rational.of(new java.math.BigInteger(whole)));
            m.appendReplacement(b, Matcher.quoteReplacement("\\frac{" + r.num() + "}{" + r.den() + "}"));
        }
        m.appendTail(b);
        return b.toString();
    }

    /** {@code \begin{align*} x &= 1 \\ y &= 2 \end{align*}}: display layout; its last line is the result. */
    private static final Pattern DISPLAY_ENV = Pattern.compile("\\\\begin\\{(align|aligned|equation|gather|gathered|eqnarray|multline|split)\\*?}(.*?)\\\\end\\{\\1\\*?}", Pattern.DOTALL);

    private static String displayEnvironments(String s) {
        return DISPLAY_ENV.matcher(Interrupts.guarded(s)).replaceAll(m -> {
            String[] lines = m.group(2).split("\\\\\\\\");
            String last = "";
            for (String l : lines) if (!l.isBlank()) last = l;
            return Matcher.quoteReplacement(last.replace("&", " ").strip());
        });
    }

    static boolean hasDegrees(String s) { return DEGREES.matcher(s).find(); }

    /** {@code 60^\circ} → {@code 60\cdot\frac{\pi}{180}}: an angle in degrees as radians. */
    static String degreesAsRadians(String s) { return DEGREES.matcher(s).replaceAll("\\\\cdot\\\\frac{\\\\pi}{180}"); }

    /** "2 3/4" → {@code 2\frac{3}{4}} (the parser reads a whole number before a proper fraction as a mixed number). */
    private static String mixedNumbers(String s) {
        if (s.indexOf('/') < 0) return s;
        return PLAIN_MIXED.matcher(s).replaceAll(m -> {
            java.math.BigInteger num = new java.math.BigInteger(m.group(2)), den = new java.math.BigInteger(m.group(3));
            return num.signum() > 0 && num.compareTo(den) < 0 ? Matcher.quoteReplacement(m.group(1) + "\\frac{" + num + "}{" + den + "}") : Matcher.quoteReplacement(m.group());
        });
    }

    /** "7,425,000" and "1 000" are one number; "1,22" is a decimal comma in plain text only. */
    private static String joinThousands(String s, boolean plainText) {
        String bare = s.endsWith("%") ? s.substring(0, s.length() - 1).strip() : s;
        String suffix = s.endsWith("%") ? "%" : "";
        if (THOUSANDS_COMMA.matcher(bare).matches()) return bare.replace(",", "") + suffix;
        if (plainText && DECIMAL_COMMA.matcher(bare).matches()) return bare.replace(',', '.') + suffix;
        if (!s.contains(" ")) return s;
        Matcher m = THOUSANDS_SPACE.matcher(s);
        StringBuilder b = new StringBuilder();
        while (m.find()) m.appendReplacement(b, m.group(1) + m.group(2).replace(" ", ""));
        m.appendTail(b);
        return b.toString();
    }
}
