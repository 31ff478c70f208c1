package dev.tina.eval.grading;

import dev.tina.eval.grading.Node.*;
import org.matheclipse.core.basic.Config;
import org.matheclipse.core.eval.EvalEngine;
import org.matheclipse.core.eval.ExprEvaluator;
import org.matheclipse.core.interfaces.IExpr;

import java.io.OutputStream;
import java.io.PrintStream;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Collectors;

/**
 * The computer algebra system behind symbolic equivalence: Symja (matheclipse-core). Answers only
 * "is this difference zero?". One engine per worker thread; a deadline stops it through
 * {@link #cancel(Thread)} (Symja polls its stop flag) on top of the thread interrupt.
 */
final class SymjaCas {
    enum Verdict { ZERO, NONZERO, UNKNOWN }

    private static final PrintStream NULL = new PrintStream(OutputStream.nullOutputStream());
    private static final Map<Thread, EvalEngine> RUNNING = new ConcurrentHashMap<>();
    private static final ThreadLocal<ExprEvaluator> EVALUATOR = ThreadLocal.withInitial(SymjaCas::newEvaluator);
    /**
     * Symja's global symbol table is not documented as thread-safe: one query at a time. A query that
     * overruns is stopped through its engine, so the lock is released soon after; a waiter that still
     * cannot get it gives up ("unknown") rather than queueing behind it.
     */
    private static final ReentrantLock ONE_AT_A_TIME = new ReentrantLock();
    private static final long LOCK_WAIT_MS = 2_000;

    static {
        // Symja logs through log4j; without a backend it prints a status error on first use.
        System.getProperties().putIfAbsent("log4j2.loggerContextFactory", "org.apache.logging.log4j.simple.SimpleLoggerContextFactory");
        System.getProperties().putIfAbsent("org.apache.logging.log4j.simplelog.StatusLogger.level", "OFF");
        System.getProperties().putIfAbsent("org.apache.logging.log4j.simplelog.level", "OFF");
        Config.JAS_NO_THREADS = true;          // no background rule loading thread burning a core
        Config.THREAD_FACTORY = r -> {         // and any thread it does start must not keep the JVM alive
            Thread t = new Thread(r, "symja");
            t.setDaemon(true);
            return t;
        };
        Config.FILESYSTEM_ENABLED = false;
        Config.MAX_BIT_LENGTH = 200_000;       // 10^10^10 fails fast instead of filling the heap
        Config.MAX_AST_SIZE = 20_000;
        Config.MAX_POLYNOMIAL_DEGREE = 200;
        Config.MAX_OUTPUT_SIZE = 20_000;
    }

    private SymjaCas() {}

    private static ExprEvaluator newEvaluator() {
        EvalEngine engine = new EvalEngine("tina-grader", 256, 10_000, NULL, NULL, true);
        engine.setQuietMode(true);
        return new ExprEvaluator(engine, true, (short) 0);
    }

    /** Loads Symja's rule base (about a second, once per JVM) so the first graded answer does not pay for it. */
    static void warmUp() {
        query("Simplify(x^2-x*x)");
    }

    /** Asks Symja to stop the evaluation running on {@code worker}, if any. */
    static void cancel(Thread worker) {
        EvalEngine e = RUNNING.get(worker);
        if (e != null) e.stopRequest();
    }

    /** Is {@code a - b} zero? Symbolic differences are simplified; constant ones are tested with PossibleZeroQ. */
    static Verdict differenceIsZero(Node a, Node b) {
        Map<String, String> names = new HashMap<>();
        String diff;
        try {
            diff = "(" + symja(a, names) + ")-(" + symja(b, names) + ")";
        } catch (IllegalArgumentException notArithmetic) {
            return Verdict.UNKNOWN;
        }
        boolean constant = names.keySet().stream().noneMatch(k -> !k.startsWith("f:"));
        IExpr r = query(constant ? "PossibleZeroQ(" + diff + ")" : "Simplify(" + diff + ")");
        if (r == null) return Verdict.UNKNOWN;
        if (constant) return r.isTrue() ? Verdict.ZERO : r.isFalse() ? Verdict.NONZERO : Verdict.UNKNOWN;
        if (r.isZero()) return Verdict.ZERO;
        return r.isNumber() ? Verdict.NONZERO : Verdict.UNKNOWN;
    }

    private static IExpr query(String input) {
        try {
            if (!ONE_AT_A_TIME.tryLock(LOCK_WAIT_MS, TimeUnit.MILLISECONDS)) return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
        Thread me = Thread.currentThread();
        try {
            ExprEvaluator ev = EVALUATOR.get();
            EvalEngine engine = ev.getEvalEngine();
            engine.setStopRequested(false);
            RUNNING.put(me, engine);
            Interrupts.check();
            return ev.eval(input);
        } catch (StackOverflowError | Exception | LinkageError e) {
            return null; // limits hit, parse trouble, a class we excluded: "don't know"
        } finally {
            RUNNING.remove(me);
            ONE_AT_A_TIME.unlock();
        }
    }

    /** Node → Symja input form; symbols become v0, v1, … so names never collide with built-ins (E, I, D, N). */
    static String symja(Node n, Map<String, String> names) {
        Interrupts.check();
        return switch (n) {
            case Num x -> "(" + x.value().num() + "/" + x.value().den() + ")";
            case Sym x -> names.computeIfAbsent(x.name(), k -> "v" + names.size());
            case Const x -> switch (x.kind()) { case PI -> "Pi"; case E -> "E"; case I -> "I"; case INFINITY -> "Infinity"; };
            case Add x -> "(" + x.terms().stream().map(t -> symja(t, names)).collect(Collectors.joining("+")) + ")";
            case Neg x -> "(-" + symja(x.arg(), names) + ")";
            case Mul x -> "(" + x.factors().stream().map(t -> symja(t, names)).collect(Collectors.joining("*")) + ")";
            case Div x -> "((" + symja(x.num(), names) + ")/(" + symja(x.den(), names) + "))";
            case Pow x -> "((" + symja(x.base(), names) + ")^(" + symja(x.exp(), names) + "))";
            case Percent x -> "((" + symja(x.arg(), names) + ")/100)";
            case Fn x -> function(x, names);
            default -> throw new IllegalArgumentException("not arithmetic: " + Node.render(n));
        };
    }

    private static String function(Fn f, Map<String, String> names) {
        String args = f.args().stream().map(a -> symja(a, names)).collect(Collectors.joining(","));
        String head = switch (f.name()) {
            case "sqrt" -> "Sqrt";
            case "root" -> null;
            case "sin" -> "Sin"; case "cos" -> "Cos"; case "tan" -> "Tan"; case "cot" -> "Cot";
            case "sec" -> "Sec"; case "csc" -> "Csc"; case "arcsin" -> "ArcSin"; case "arccos" -> "ArcCos";
            case "arctan" -> "ArcTan"; case "sinh" -> "Sinh"; case "cosh" -> "Cosh"; case "tanh" -> "Tanh";
            case "ln" -> "Log"; case "log" -> "Log"; case "exp" -> "Exp"; case "abs" -> "Abs";
            case "floor" -> "Floor"; case "ceil" -> "Ceiling"; case "factorial" -> "Factorial";
            case "factorial2" -> "Factorial2"; case "binom" -> "Binomial"; case "gcd" -> "GCD"; case "lcm" -> "LCM";
            case "max" -> "Max"; case "min" -> "Min";
            default -> names.computeIfAbsent("f:" + f.name(), k -> "uf" + names.size());
        };
        if (head == null) { // root(k, x) = x^(1/k)
            return "((" + symja(f.args().get(1), names) + ")^(1/(" + symja(f.args().get(0), names) + ")))";
        }
        return head + "(" + args + ")";
    }
}
