package dev.tina.eval.grading;

import java.util.ArrayList;
import java.util.List;

/**
 * The current grade's conventions and, when explaining, the rules that decided: thread-confined (one grade runs on
 * one worker thread), so the static comparison code needs no extra parameters.
 */
final class Trace {
    private static final int MAX_STEPS = 40;
    private static final ThreadLocal<Trace> CURRENT = new ThreadLocal<>();

    final Conventions conventions;
    private final List<String> steps; // null when not explaining
    private int depth;

    private Trace(Conventions conventions, boolean explain) {
        this.conventions = conventions;
        this.steps = explain ? new ArrayList<>() : null;
    }

    static Trace begin(Conventions conventions, boolean explain) {
        Trace t = new Trace(conventions, explain);
        CURRENT.set(t);
        return t;
    }

    static void end() { CURRENT.remove(); }

    static Conventions conventions() {
        Trace t = CURRENT.get();
        return t == null ? Conventions.TINA : t.conventions;
    }

    /** Records a rule that decided (or fed) a verdict, indented by comparison depth. */
    static void rule(String what) {
        Trace t = CURRENT.get();
        if (t == null || t.steps == null) return;
        if (t.steps.size() < MAX_STEPS) t.steps.add("  ".repeat(Math.min(t.depth, 8)) + what);
        else if (t.steps.size() == MAX_STEPS) t.steps.add("…");
    }

    static void enter() { Trace t = CURRENT.get(); if (t != null) t.depth++; }

    static void exit() { Trace t = CURRENT.get(); if (t != null) t.depth--; }

    List<String> steps() { return steps == null ? List.of() : List.copyOf(steps); }
}
