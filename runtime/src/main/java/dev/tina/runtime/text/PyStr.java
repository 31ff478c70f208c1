package dev.tina.runtime.text;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A string with the Python {@code str} methods chat templates call ({@code startswith},
 * {@code endswith}, {@code split}, {@code strip}, {@code lstrip}, {@code rstrip}), which Java
 * strings lack. Message contents are wrapped in it before rendering; it behaves as a
 * {@link CharSequence} everywhere else.
 */
public final class PyStr implements CharSequence, Comparable<PyStr> {
    private final String s;

    public PyStr(String s) { this.s = s; }

    public boolean startswith(Object prefix) { return s.startsWith(String.valueOf(prefix)); }

    public boolean endswith(Object suffix) { return s.endsWith(String.valueOf(suffix)); }

    public List<PyStr> split(Object sep) {
        List<PyStr> out = new ArrayList<>();
        for (String part : s.split(Pattern.quote(String.valueOf(sep)), -1)) out.add(new PyStr(part));
        return out;
    }

    public List<PyStr> split() {
        List<PyStr> out = new ArrayList<>();
        for (String part : s.strip().split("\\s+")) if (!part.isEmpty()) out.add(new PyStr(part));
        return out;
    }

    public PyStr strip() { return new PyStr(s.strip()); }

    public PyStr strip(Object chars) { return new PyStr(rstrip(lstrip(s, chars), chars)); }

    public PyStr lstrip() { return new PyStr(s.stripLeading()); }

    public PyStr lstrip(Object chars) { return new PyStr(lstrip(s, chars)); }

    public PyStr rstrip() { return new PyStr(s.stripTrailing()); }

    public PyStr rstrip(Object chars) { return new PyStr(rstrip(s, chars)); }

    public PyStr upper() { return new PyStr(s.toUpperCase(java.util.Locale.ROOT)); }

    public PyStr lower() { return new PyStr(s.toLowerCase(java.util.Locale.ROOT)); }

    private static String lstrip(String s, Object chars) {
        String c = String.valueOf(chars);
        int i = 0;
        while (i < s.length() && c.indexOf(s.charAt(i)) >= 0) i++;
        return s.substring(i);
    }

    private static String rstrip(String s, Object chars) {
        String c = String.valueOf(chars);
        int i = s.length();
        while (i > 0 && c.indexOf(s.charAt(i - 1)) >= 0) i--;
        return s.substring(0, i);
    }

    @Override public int length() { return s.length(); }
    @Override public char charAt(int index) { return s.charAt(index); }
    @Override public CharSequence subSequence(int start, int end) { return s.subSequence(start, end); }
    @Override public String toString() { return s; }
    @Override public boolean equals(Object o) { return o instanceof CharSequence cs && s.contentEquals(cs); }
    @Override public int hashCode() { return s.hashCode(); }
    @Override public int compareTo(PyStr o) { return s.compareTo(o.s); }
}
