package dev.tina.eval.tracking;

/** The bits of Markdown that text summaries need (TensorBoard's text dashboard renders Markdown, HTML stripped). */
public final class Markdown {
    private Markdown() {}

    /** An indented code block: Markdown and HTML inside (LaTeX, {@code <think>}) are shown as written. */
    public static String code(String text) {
        StringBuilder sb = new StringBuilder();
        for (String line : text.split("\n", -1)) sb.append("    ").append(line).append('\n');
        return sb.toString();
    }

    /** Text with Markdown's and HTML's active characters escaped (names such as {@code starts_with_capital}). */
    public static String escape(String s) { return s.replaceAll("([\\\\`*_\\[\\]<>#])", "\\\\$1"); }

    /** At most {@code max} characters; a longer text is cut and says how much was left out (text summaries stay small). */
    public static String cut(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max) + "\n… (" + (s.length() - max) + " more characters)";
    }
}
