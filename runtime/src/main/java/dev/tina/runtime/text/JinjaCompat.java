package dev.tina.runtime.text;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Rewrites the few Python-Jinja idioms of Hugging Face chat templates that Jinjava parses
 * differently, into equivalent forms it evaluates as Python's Jinja2 does. Each rule is tested
 * on real templates (Qwen2/Qwen3, DeepSeek-R1-Distill):
 * <ul>
 *   <li>{@code x[::-1]} (reversed slice; Jinjava has no step slices) becomes {@code (x|reverse)};</li>
 *   <li>{@code not x is defined} (Jinja2: {@code not (x is defined)}; Jinjava binds {@code not}
 *       first) becomes {@code not (x is defined)}, for every {@code is} test;</li>
 *   <li>keyword arguments of {@code namespace(...)} are parenthesised, because Jinjava binds a
 *       filter after {@code name=} to the whole keyword ({@code last_query_index=messages|length - 1}).</li>
 * </ul>
 */
final class JinjaCompat {
    private static final Pattern REVERSED = Pattern.compile("([A-Za-z_][\\w.]*(?:\\[[^\\]\\[]*\\])*)\\[::-1\\]");
    private static final Pattern NOT_IS = Pattern.compile(
            "\\bnot\\s+([A-Za-z_][\\w.]*(?:\\[[^\\]\\[]*\\])*)\\s+is\\s+(not\\s+)?([A-Za-z_]\\w*)");
    private static final Pattern NAMESPACE = Pattern.compile("\\bnamespace\\(");

    private JinjaCompat() {}

    static String rewrite(String template) {
        String s = REVERSED.matcher(template).replaceAll("($1|reverse)");
        s = NOT_IS.matcher(s).replaceAll("not ($1 is $2$3)");
        return parenthesiseNamespaceArguments(s);
    }

    private static String parenthesiseNamespaceArguments(String s) {
        StringBuilder out = new StringBuilder();
        Matcher m = NAMESPACE.matcher(s);
        int pos = 0;
        while (m.find(pos)) {
            int open = m.end() - 1, close = matchingParen(s, open);
            if (close < 0) break;
            out.append(s, pos, open + 1);
            List<String> args = splitTopLevel(s.substring(open + 1, close));
            List<String> rewritten = new ArrayList<>();
            for (String a : args) {
                int eq = keywordEquals(a);
                rewritten.add(eq < 0 ? a : a.substring(0, eq + 1) + "(" + a.substring(eq + 1).trim() + ")");
            }
            out.append(String.join(",", rewritten)).append(')');
            pos = close + 1;
        }
        return out.append(s.substring(pos)).toString();
    }

    /** Index of the '=' of {@code name=value}, or -1 (not '==' and not inside quotes). */
    private static int keywordEquals(String arg) {
        Matcher m = Pattern.compile("^\\s*[A-Za-z_]\\w*\\s*=(?!=)").matcher(arg);
        return m.find() ? m.end() - 1 : -1;
    }

    private static int matchingParen(String s, int open) {
        int depth = 0;
        char quote = 0;
        for (int i = open; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == '\\') i++;
                else if (c == quote) quote = 0;
            } else if (c == '\'' || c == '"') quote = c;
            else if (c == '(') depth++;
            else if (c == ')' && --depth == 0) return i;
        }
        return -1;
    }

    private static List<String> splitTopLevel(String s) {
        List<String> parts = new ArrayList<>();
        int depth = 0, start = 0;
        char quote = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == '\\') i++;
                else if (c == quote) quote = 0;
            } else if (c == '\'' || c == '"') quote = c;
            else if (c == '(' || c == '[' || c == '{') depth++;
            else if (c == ')' || c == ']' || c == '}') depth--;
            else if (c == ',' && depth == 0) {
                parts.add(s.substring(start, i));
                start = i + 1;
            }
        }
        if (start < s.length() || !parts.isEmpty()) parts.add(s.substring(start));
        return parts;
    }
}
