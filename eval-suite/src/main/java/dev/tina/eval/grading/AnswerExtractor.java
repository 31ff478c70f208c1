package dev.tina.eval.grading;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the final answer in a model's completion. In order: {@code <answer>} tags, the last
 * {@code \boxed{}}/{@code \fbox{}} (boxes separated by a short connector such as ", " or "and" form one list
 * answer, so {@code \boxed{1}\boxed{2}} is {1, 2}, never 12) or "final answer is …" (whichever comes later),
 * "the answer is …", "#### 18", a bold {@code **73**}; only when none of these committed answers exists, the
 * last LaTeX span, a short completion as a whole, the last number, a short word answer. After a
 * {@code </think>} the text after it is searched first.
 *
 * <p>All scans are linear (no backtracking-prone patterns over the whole completion) and run on an
 * interruptible view of the text, so a deadline stops them.
 */
public final class AnswerExtractor {
    private AnswerExtractor() {}

    /** Where an answer was found. */
    public enum Source { ANSWER_TAG, BOXED, FINAL_ANSWER, ANSWER_PHRASE, BOLD, LATEX, WHOLE, NUMBER, CHOICE }

    /** One candidate answer; {@code plainText} when it came from prose rather than LaTeX. */
    public record Extraction(String text, Source source, boolean plainText) {}

    private static final int WHOLE_MAX = 80;
    private static final int MAX_LISTED_BOXES = 12;
    private static final Pattern ANSWER_TAG = Pattern.compile("<answer>(.*?)</answer>", Pattern.DOTALL | Pattern.CASE_INSENSITIVE);
    private static final Pattern FINAL_ANSWER = Pattern.compile("final\\s+answer", Pattern.CASE_INSENSITIVE);
    private static final Pattern I_HOPE = Pattern.compile("\\.?\\s*I hope it is correct", Pattern.CASE_INSENSITIVE);
    private static final Pattern IS = Pattern.compile("\\bis\\b\\s*:?", Pattern.CASE_INSENSITIVE);
    private static final Pattern ANSWER_WORD = Pattern.compile("\\banswer\\b(\\s*\\**\\s*(?:is\\b\\s*:?|:|=))?", Pattern.CASE_INSENSITIVE);
    private static final Pattern BOLD = Pattern.compile("\\*\\*([^*\\n]{1,80})\\*\\*");
    private static final Pattern BOX_SEPARATOR = Pattern.compile("\\b(?:and|or)\\b|,|;");
    private static final Pattern LIST_SEPARATOR = Pattern.compile("\\s*(?:,|,?\\s*and|,?\\s*or|\\\\text\\{\\s*(?:and|or)\\s*})\\s*", Pattern.CASE_INSENSITIVE);
    private static final Pattern PERCENT_AFTER = Pattern.compile("^\\s*\\$?\\s*(?:\\\\%|%|percent(?:age)?\\b|pct\\b)", Pattern.CASE_INSENSITIVE);
    private static final Pattern NUMBER = Pattern.compile(
            "(?<![\\w.])(-?\\d+/\\d+|-?\\d{1,3}(?:[ ,]\\d{3})+(?:\\.\\d+)?|-?\\d+(?:[.,]\\d+)?|-?\\.\\d+)(?:\\s*(%|percent\\b|pct\\b))?");
    private static final Pattern CHOICE_PHRASE = Pattern.compile(
            "answer\\s*(?:is|:)?\\s*:?\\s*(?:\\*\\*)?\\s*\\$?\\s*(?:\\\\(?:text|textbf|mathrm|mathbf)\\{)?\\s*\\(?(?-i:([A-Z]))\\)?(?![A-Za-z])", Pattern.CASE_INSENSITIVE);
    /** "**B**", "**(B)**", "**B) 12**", "**B. 12**": a bold option letter, maybe with its value after ")" "." or ":". */
    private static final Pattern CHOICE_BOLD = Pattern.compile("\\*\\*\\s*\\(?([A-Z])(?:\\)?\\s*[.:]?\\s*|(?:\\)|[.:])\\s*[^*\\n]{1,40})\\*\\*");
    /** "the correct option is D", "I choose (B)": the choice named without the word "answer". */
    private static final Pattern CHOICE_OPTION = Pattern.compile(
            "(?:(?:correct|right|best)\\s+(?:option|choice)\\s+is|\\bI\\s+(?:choose|pick|select)(?:\\s+option)?)\\s*:?\\s*\\(?(?-i:([A-Z]))\\)?(?![A-Za-z])", Pattern.CASE_INSENSITIVE);
    /** A completion that opens with its option: "C) 12, because …", "(B) since …", "D. …". */
    private static final Pattern CHOICE_LEADING = Pattern.compile("^\\s*(?:\\*\\*)?\\s*(?:\\(([A-Z])\\)|([A-Z])[).:])(?:\\s|\\*\\*|$)");
    private static final Pattern CHOICE_PAREN = Pattern.compile("\\(([A-Z])\\)");
    private static final Pattern CHOICE_BARE = Pattern.compile("(?:^|\\s)\\(?([A-Z])\\)?(?=[.,:\\s]|$)");

    /** Candidate answers of a completion, best first (the grader uses the first one that parses). */
    public static List<Extraction> candidates(String completion) {
        if (completion == null || completion.isBlank()) return List.of();
        int think = completion.lastIndexOf("</think>");
        if (think >= 0) {
            List<Extraction> after = committed(search(completion.substring(think + "</think>".length())));
            if (!after.isEmpty()) return after;
        }
        return committed(search(completion));
    }

    /**
     * When the completion commits to an answer (tag, box, "final answer", "answer is", bold), only those count:
     * an unreadable box must not fall back to some number elsewhere in the text (or inside the box).
     */
    private static List<Extraction> committed(List<Extraction> all) {
        List<Extraction> strong = all.stream().filter(e -> e.source().ordinal() <= Source.BOLD.ordinal()).toList();
        return strong.isEmpty() ? all : strong;
    }

    /** Candidate answers of a gold: its boxed answer, else its LaTeX span, else the whole string. */
    public static List<Extraction> goldCandidates(String gold) {
        if (gold == null || gold.isBlank()) return List.of();
        List<Extraction> out = new ArrayList<>();
        boxed(gold).ifPresent(out::add);
        if (out.isEmpty()) latex(gold).ifPresent(out::add);
        String whole = gold.strip();
        boolean latexy = whole.contains("\\") || whole.contains("$");
        out.add(new Extraction(whole, Source.WHOLE, !latexy));
        return out;
    }

    private static List<Extraction> search(String text) {
        List<Extraction> out = new ArrayList<>();
        Matcher tag = ANSWER_TAG.matcher(Interrupts.guarded(text));
        String inner = null;
        while (tag.find()) inner = tag.group(1);
        if (inner != null && !inner.isBlank()) {
            for (Extraction e : search(inner)) out.add(new Extraction(e.text(), Source.ANSWER_TAG, e.plainText()));
            return out;
        }
        // the later of "final answer is …" and the last box wins ("\\boxed{3} … The final answer is 5")
        Optional<Extraction> box = boxed(text), fin = finalAnswer(text);
        if (lastFinalAnswer(text) > Math.max(text.lastIndexOf("\\boxed"), text.lastIndexOf("\\fbox"))) {
            fin.ifPresent(out::add);
            box.ifPresent(out::add);
        } else {
            box.ifPresent(out::add);
            fin.ifPresent(out::add);
        }
        answerPhrase(text).ifPresent(out::add);
        hashes(text).ifPresent(out::add);
        bold(text).ifPresent(out::add);
        latex(text).ifPresent(out::add);
        String t = text.strip();
        if (t.length() <= WHOLE_MAX && isMathy(t)) out.add(new Extraction(t, Source.WHOLE, !t.contains("\\") && !t.contains("$")));
        lastNumber(text).ifPresent(out::add);
        if (out.isEmpty() && isShortWords(t)) out.add(new Extraction(t.replaceAll("[.!]+$", ""), Source.WHOLE, true));
        return out;
    }

    /** A word answer on its own ("odd", "no solution"): at most three words. */
    static boolean isShortWords(String s) {
        return s.length() <= 30 && s.matches("[A-Za-z][A-Za-z' \\-]*[.!]?") && s.split("\\s+").length <= 3;
    }

    // ---------------------------------------------------------------- boxed

    private record Box(int start, int end, String content) {}

    /** The last boxed answer, merged with the boxes just before it when only a short connector separates them. */
    static Optional<Extraction> boxed(String text) {
        List<Box> boxes = new ArrayList<>();
        int i = 0;
        while (true) {
            Interrupts.check();
            int b = text.indexOf("\\boxed", i), f = text.indexOf("\\fbox", i);
            int at = b < 0 ? f : f < 0 ? b : Math.min(b, f);
            if (at < 0) break;
            int k = at + (at == b ? 6 : 5);
            while (k < text.length() && text.charAt(k) == ' ') k++;
            if (k < text.length() && text.charAt(k) == '{') {
                int close = LatexNormalizer.matchingBrace(text, k);
                if (close < 0) {
                    int loose = closingEscapedBrace(text, k);
                    if (loose > 0) { // "\\boxed{5\\}": a stray backslash before the closing brace
                        boxes.add(new Box(at, loose + 1, text.substring(k + 1, loose - 1).strip()));
                        i = loose + 1;
                        continue;
                    }
                    // unclosed: the rest of the text is the answer
                    boxes.add(new Box(at, text.length(), text.substring(k + 1).strip()));
                    break;
                }
                boxes.add(new Box(at, close + 1, text.substring(k + 1, close).strip()));
                i = close + 1;
            } else if (k < text.length() && Character.isLetterOrDigit(text.charAt(k)) && k > at + 5 && text.charAt(k - 1) == ' ') {
                int e = k; // "\boxed 5"
                while (e < text.length() && !Character.isWhitespace(text.charAt(e)) && text.charAt(e) != '$') e++;
                boxes.add(new Box(at, e, text.substring(k, e)));
                i = e;
            } else {
                i = k;
            }
        }
        boxes.removeIf(x -> x.content().isEmpty());
        if (boxes.isEmpty()) return Optional.empty();
        List<String> parts = new ArrayList<>();
        Box last = boxes.getLast();
        parts.add(last.content());
        for (int j = boxes.size() - 2; j >= 0; j--) {
            Box prev = boxes.get(j), next = boxes.get(j + 1);
            String between = text.substring(prev.end(), next.start());
            boolean adjacent = between.length() < 10;
            boolean listed = between.length() < 70 && !prev.content().equals(next.content()) && BOX_SEPARATOR.matcher(between).find();
            if (!adjacent && !listed) break;
            if (!prev.content().equals(parts.getFirst())) parts.addFirst(prev.content());
            if (parts.size() > MAX_LISTED_BOXES) { // a box per step of a long derivation, not one list answer
                parts = new ArrayList<>(List.of(last.content()));
                break;
            }
        }
        String answer = String.join(", ", parts) + percentAfter(text, last.end());
        return Optional.of(new Extraction(answer, Source.BOXED, false));
    }

    /** The brace closing the one at {@code open} when a "\\}" with no "\\{" before it is read as a plain "}"; -1 if none. */
    private static int closingEscapedBrace(String text, int open) {
        int depth = 0, escaped = 0;
        for (int i = open; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\\' && i + 1 < text.length()) {
                char d = text.charAt(i + 1);
                if (d == '{') escaped++;
                else if (d == '}' && escaped > 0) escaped--;
                else if (d == '}' && --depth == 0) return i + 1;
                i++;
            } else if (c == '{') depth++;
            else if (c == '}' && --depth == 0) return i;
        }
        return -1;
    }

    private static String percentAfter(String text, int end) {
        String rest = text.substring(end, Math.min(text.length(), end + 20));
        return PERCENT_AFTER.matcher(rest).find() ? "\\%" : "";
    }

    // ---------------------------------------------------------------- phrases

    private static int lastFinalAnswer(String text) {
        Matcher m = FINAL_ANSWER.matcher(Interrupts.guarded(text));
        int at = -1;
        while (m.find()) at = m.start();
        return at;
    }

    private static Optional<Extraction> finalAnswer(String text) {
        Matcher m = FINAL_ANSWER.matcher(Interrupts.guarded(text));
        int end = -1;
        while (m.find()) end = m.end();
        if (end < 0) return Optional.empty();
        String seg = text.substring(end, Math.min(text.length(), end + 400));
        Matcher hope = I_HOPE.matcher(seg);
        if (hope.find()) seg = seg.substring(0, hope.start());
        seg = seg.replaceFirst("^[\\s:*]+", "");
        Matcher is = IS.matcher(seg);
        if (is.find() && is.start() <= 100 && !seg.substring(0, is.start()).contains("\n")) seg = seg.substring(is.end());
        return fromSegment(seg, Source.FINAL_ANSWER);
    }

    private static Optional<Extraction> answerPhrase(String text) {
        Matcher m = ANSWER_WORD.matcher(Interrupts.guarded(text));
        int end = -1;
        boolean connector = false;
        while (m.find()) { end = m.end(); connector = m.group(1) != null; }
        if (end < 0) return Optional.empty();
        String seg = text.substring(end, Math.min(text.length(), end + 300));
        if (!connector) {
            Optional<Extraction> env = latex(seg);
            int first = firstLatexStart(seg);
            return first >= 0 && first <= 50 ? env.map(e -> new Extraction(e.text(), Source.ANSWER_PHRASE, false)) : Optional.empty();
        }
        return fromSegment(seg, Source.ANSWER_PHRASE);
    }

    /** GSM8K's convention: "#### 18" closes the solution. */
    private static Optional<Extraction> hashes(String text) {
        int at = text.lastIndexOf("####");
        if (at < 0) return Optional.empty();
        return fromSegment(text.substring(at + 4, Math.min(text.length(), at + 200)), Source.ANSWER_PHRASE);
    }

    /** What follows "final answer is": its first LaTeX span, else the rest of the line, else its first number. */
    private static Optional<Extraction> fromSegment(String seg, Source source) {
        seg = seg.strip();
        int first = firstLatexStart(seg);
        if (first >= 0 && first <= 50) {
            Optional<Extraction> env = firstLatex(seg.substring(first));
            if (env.isPresent()) return env.map(e -> new Extraction(e.text(), source, false));
        }
        int nl = seg.indexOf('\n');
        String line = (nl >= 0 ? seg.substring(0, nl) : seg).strip().replaceAll("^\\*+|\\*+$", "").strip();
        line = line.replaceAll("[.\\s]+$", "");
        if (!line.isEmpty() && line.length() <= WHOLE_MAX && isMathy(line)) {
            return Optional.of(new Extraction(line, source, !line.contains("\\")));
        }
        Matcher n = NUMBER.matcher(line);
        if (n.find()) return Optional.of(new Extraction(decimalComma(n.group(1)) + (n.group(2) != null ? "%" : ""), source, true));
        if (isShortWords(line)) return Optional.of(new Extraction(line, source, true));
        return Optional.empty();
    }

    private static Optional<Extraction> bold(String text) {
        Matcher m = BOLD.matcher(Interrupts.guarded(text));
        String last = null;
        while (m.find()) {
            String c = m.group(1).strip().replaceAll("^\\$+|\\$+$", "").replaceAll("[.:]+$", "").strip();
            if (!c.isEmpty() && isMathy(c) && (c.matches(".*[\\d\\\\].*") || c.length() <= 2)) last = c;
        }
        return Optional.ofNullable(last).map(c -> new Extraction(c, Source.BOLD, !c.contains("\\")));
    }

    // ---------------------------------------------------------------- LaTeX spans

    private record Span(int start, int end, String content) {}

    private static List<Span> spans(String text) {
        List<Span> out = new ArrayList<>();
        int i = 0, n = text.length();
        while (i < n) {
            if ((i & 0xFFF) == 0) Interrupts.check();
            char c = text.charAt(i);
            if (c == '\\' && i + 1 < n && (text.charAt(i + 1) == '[' || text.charAt(i + 1) == '(')) {
                String close = text.charAt(i + 1) == '[' ? "\\]" : "\\)";
                int e = text.indexOf(close, i + 2);
                if (e < 0) { i += 2; continue; }
                out.add(new Span(i, e + 2, text.substring(i + 2, e)));
                i = e + 2;
            } else if (c == '\\' && text.startsWith("\\begin{", i) && displayEnvironmentEnd(text, i) > 0) {
                int e = displayEnvironmentEnd(text, i); // \begin{align*} … \end{align*} outside $…$
                out.add(new Span(i, e, text.substring(i, e)));
                i = e;
            } else if (c == '\\' && i + 1 < n) {
                i += 2; // an escaped character, e.g. \$
            } else if (c == '$') {
                boolean display = i + 1 < n && text.charAt(i + 1) == '$';
                int from = i + (display ? 2 : 1);
                int e = display ? text.indexOf("$$", from) : unescapedDollar(text, from);
                if (e < 0) { i = from; continue; }
                out.add(new Span(i, e + (display ? 2 : 1), text.substring(from, e)));
                i = e + (display ? 2 : 1);
            } else {
                i++;
            }
        }
        out.removeIf(s -> s.content().isBlank());
        return out;
    }

    private static final Pattern DISPLAY_BEGIN = Pattern.compile("\\\\begin\\{(align|aligned|equation|gather|eqnarray|multline)(\\*?)}");

    /** The end of a display environment starting at {@code at}, -1 when {@code at} starts none (or it is unclosed). */
    private static int displayEnvironmentEnd(String text, int at) {
        Matcher m = DISPLAY_BEGIN.matcher(text).region(at, Math.min(text.length(), at + 30));
        if (!m.lookingAt()) return -1;
        String end = "\\end{" + m.group(1) + m.group(2) + "}";
        int e = text.indexOf(end, m.end());
        return e < 0 ? -1 : e + end.length();
    }

    private static int unescapedDollar(String text, int from) {
        for (int i = from; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\\') { i++; continue; }
            if (c == '$') return i;
        }
        return -1;
    }

    private static int firstLatexStart(String s) {
        List<Span> sp = spans(s);
        return sp.isEmpty() ? -1 : sp.getFirst().start();
    }

    /** The last LaTeX span, with the spans before it joined by only ", " / "and" / "or" ("$1$, $2$ and $3$"). */
    static Optional<Extraction> latex(String text) {
        List<Span> sp = spans(text);
        // "$5 and the tax is $2": dollars, not math; drop trailing spans that are prose
        while (!sp.isEmpty() && !isMathy(sp.getLast().content())) sp = sp.subList(0, sp.size() - 1);
        if (sp.isEmpty()) return Optional.empty();
        int j = sp.size() - 1;
        List<String> parts = new ArrayList<>();
        parts.add(sp.get(j).content().strip());
        while (j > 0 && LIST_SEPARATOR.matcher(text.substring(sp.get(j - 1).end(), sp.get(j).start())).matches()) {
            j--;
            parts.addFirst(sp.get(j).content().strip());
        }
        String answer = String.join(", ", parts) + percentAfter(text, sp.getLast().end());
        return Optional.of(new Extraction(answer, Source.LATEX, false));
    }

    private static Optional<Extraction> firstLatex(String text) {
        List<Span> sp = spans(text);
        if (sp.isEmpty()) return Optional.empty();
        int j = 0;
        List<String> parts = new ArrayList<>();
        parts.add(sp.getFirst().content().strip());
        while (j + 1 < sp.size() && LIST_SEPARATOR.matcher(text.substring(sp.get(j).end(), sp.get(j + 1).start())).matches()) {
            j++;
            parts.add(sp.get(j).content().strip());
        }
        return Optional.of(new Extraction(String.join(", ", parts) + percentAfter(text, sp.get(j).end()), Source.LATEX, false));
    }

    // ---------------------------------------------------------------- numbers, words, choices

    private static Optional<Extraction> lastNumber(String text) {
        Matcher m = NUMBER.matcher(Interrupts.guarded(text));
        String last = null;
        while (m.find()) last = decimalComma(m.group(1)) + (m.group(2) != null ? "%" : "");
        return Optional.ofNullable(last).map(s -> new Extraction(s, Source.NUMBER, true));
    }

    /** One number read from prose: "2,5" with no space is a decimal comma there (a list would be "2, 5"). */
    private static String decimalComma(String number) {
        return number.matches("-?\\d+,(?:\\d{1,2}|\\d{4,})") ? number.replace(',', '.') : number;
    }

    /** No prose: no run of three or more letters other than a LaTeX command or a math word. */
    static boolean isMathy(String s) {
        String t = LatexNormalizer.GLUED_CONNECTOR.matcher(s).replaceAll(",").replaceAll("\\\\(?:text|begin|end)\\{[^{}]*}", " ").replaceAll("\\\\[a-zA-Z]+", " ");
        Matcher w = Pattern.compile("[A-Za-z]{3,}").matcher(t);
        while (w.find()) {
            String word = w.group().toLowerCase(Locale.ROOT);
            if (!word.matches("sin|cos|tan|cot|sec|csc|log|exp|sqrt|pi|inf|infty|infinity|sinh|cosh|tanh|arcsin|arccos|arctan|gcd|lcm|max|min|and|pct")) return false;
        }
        return !s.isBlank();
    }

    /** The option letter a completion chose, for multiple-choice golds. */
    public static Optional<Character> choice(String completion) {
        if (completion == null || completion.isBlank()) return Optional.empty();
        int think = completion.lastIndexOf("</think>");
        String text = think >= 0 && !completion.substring(think + 8).isBlank() ? completion.substring(think + 8) : completion;
        Matcher tag = ANSWER_TAG.matcher(Interrupts.guarded(text));
        String inner = null;
        while (tag.find()) inner = tag.group(1);
        if (inner != null) text = inner;
        Optional<Extraction> box = boxed(text);
        if (box.isPresent()) {
            Character c = AnswerParser.choiceLetter(box.get().text().replaceFirst("^\\s*\\\\text\\{\\s*\\(?([A-Z])\\)?\\s*}.*", "$1").replaceFirst("^\\(?([A-Z])\\)?[\\s:.].*", "$1"));
            if (c != null) return Optional.of(c);
        }
        for (Pattern p : List.of(CHOICE_PHRASE, CHOICE_OPTION, CHOICE_BOLD)) {
            Matcher m = p.matcher(Interrupts.guarded(text));
            Character last = null;
            while (m.find()) last = m.group(1).charAt(0);
            if (last != null) return Optional.of(last);
        }
        Matcher leading = CHOICE_LEADING.matcher(text);
        if (leading.find()) return Optional.of((leading.group(1) != null ? leading.group(1) : leading.group(2)).charAt(0));
        List<Span> sp = spans(text);
        if (!sp.isEmpty()) {
            Character c = AnswerParser.choiceLetter(sp.getLast().content());
            if (c != null) return Optional.of(c);
        }
        Matcher paren = CHOICE_PAREN.matcher(Interrupts.guarded(text));
        Character last = null;
        while (paren.find()) last = paren.group(1).charAt(0);
        if (last != null) return Optional.of(last);
        String tail = text.length() > 40 ? text.substring(text.length() - 40) : text;
        Matcher bare = CHOICE_BARE.matcher(tail);
        while (bare.find()) last = bare.group(1).charAt(0);
        return Optional.ofNullable(last);
    }
}
