package dev.tina.eval.grading;

import dev.tina.eval.grading.GradeResult.Status;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Grades completions against gold answers: the accuracy reward and the benchmark scorer.
 *
 * <p>Every grade runs on a daemon worker under a hard deadline enforced by the calling thread. On
 * timeout the worker is interrupted, the CAS is told to stop, and the worker is abandoned (the pool
 * starts a fresh one for the next grade), so a pathological answer can never hang a run or hold a
 * worker; the grade is {@link Status#TIMEOUT}, scored 0 and counted. Thread-safe; one instance can
 * serve many threads.
 */
public final class Grader implements AutoCloseable {
    /** Changes whenever a verdict may change: record it next to every score. */
    public static final String VERSION = "tina-grader/1.1 (symja 3.0.0)";

    /**
     * @param deadline     wall-clock limit per grade
     * @param maxAbandoned abandoned workers still running beyond which grades fail fast as timeouts
     *                     (protects the machine when input is hostile)
     */
    public record Options(Duration deadline, int maxAbandoned, Conventions conventions) {
        public static final Options DEFAULT = new Options(Duration.ofSeconds(5), 32);

        public Options {
            if (deadline == null || deadline.isNegative() || deadline.isZero()) throw new IllegalArgumentException("deadline must be positive");
            if (maxAbandoned < 1) throw new IllegalArgumentException("maxAbandoned must be at least 1");
            if (conventions == null) throw new IllegalArgumentException("conventions are required");
        }

        /** The project's conventions ({@link Conventions#TINA}). */
        public Options(Duration deadline, int maxAbandoned) { this(deadline, maxAbandoned, Conventions.TINA); }

        public Options withConventions(Conventions c) { return new Options(deadline, maxAbandoned, c); }
    }

    /** Counters since construction; {@code internalErrors} are grader bugs, scored 0 (detail names the exception). */
    public record Stats(long graded, long correct, long timeouts, long goldUnparseable, long noAnswer, long internalErrors, int abandonedRunning) {}

    /** The comparison step (swappable in tests to prove the deadline holds even against a hang). */
    interface Judge {
        boolean equivalent(Answer gold, Answer pred);
    }

    private static final AtomicInteger THREADS = new AtomicInteger();

    private final Options options;
    private final Judge judge;
    private final ThreadPoolExecutor workers;
    private final AtomicInteger abandoned = new AtomicInteger();
    private final AtomicLong graded = new AtomicLong(), correct = new AtomicLong(), timeouts = new AtomicLong(),
            goldUnparseable = new AtomicLong(), noAnswer = new AtomicLong(), internalErrors = new AtomicLong();

    public Grader() { this(Options.DEFAULT); }

    public Grader(Options options) { this(options, casJudge(Grader.class.getClassLoader())); }

    /** Symja's entry class: the CAS is on the class path when this is. */
    static final String CAS_CLASS = "org/matheclipse/core/eval/ExprEvaluator.class";

    /**
     * The real judge, after checking the CAS is there: without it symbolic answers would all read as
     * "unknown" and every score would silently drop, so a distribution that leaves it out (--slim) refuses.
     */
    static Judge casJudge(ClassLoader loader) {
        if (loader == null || loader.getResource(CAS_CLASS) == null) {
            throw new IllegalArgumentException("grading needs the CAS (Symja, org.matheclipse:matheclipse-core), which is not on the class path: "
                    + "this is a slim distribution (it runs parity, generate, bench, export, serve); use the full one");
        }
        return Equivalence::equivalent;
    }

    Grader(Options options, Judge judge) {
        this.options = options;
        this.judge = judge;
        ThreadFactory factory = r -> {
            // a deep stack: the CAS recurses; daemon: an abandoned worker never keeps the JVM alive
            Thread t = new Thread(null, r, "tina-grader-" + THREADS.incrementAndGet(), 16L << 20);
            t.setDaemon(true);
            return t;
        };
        this.workers = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 30, TimeUnit.SECONDS, new SynchronousQueue<>(), factory);
    }

    /** Loads the CAS now (about a second, once per JVM) instead of inside the first deadline. */
    public void warmUp() {
        SymjaCas.warmUp();
    }

    public Options options() { return options; }

    public Stats stats() {
        return new Stats(graded.get(), correct.get(), timeouts.get(), goldUnparseable.get(), noAnswer.get(), internalErrors.get(), abandoned.get());
    }

    /** Grades one completion against one gold answer; never throws for bad input, never exceeds the deadline by much. */
    public GradeResult grade(String gold, String completion) {
        return run(gold, completion, null).result();
    }

    /** Grades like {@link #grade} (same verdict, same counters) and says why: what was read and which rules decided. */
    public Explanation explain(String gold, String completion) {
        return run(gold, completion, new Recorder());
    }

    private Explanation run(String gold, String completion, Recorder rec) {
        long t0 = System.nanoTime();
        GradeResult r;
        try {
            r = withDeadline(() -> {
                Trace trace = Trace.begin(options.conventions(), rec != null);
                try {
                    return gradeNow(gold, completion, t0, rec);
                } finally {
                    if (rec != null) rec.rules = trace.steps();
                    Trace.end();
                }
            });
        } catch (TimeoutException e) {
            timeouts.incrementAndGet();
            r = new GradeResult(false, null, Status.TIMEOUT, e.getMessage(), micros(t0));
        } catch (GraderFailure e) {
            internalErrors.incrementAndGet();
            r = new GradeResult(false, null, Status.WRONG, e.getMessage(), micros(t0));
        }
        graded.incrementAndGet();
        switch (r.status()) {
            case CORRECT -> correct.incrementAndGet();
            case GOLD_UNPARSEABLE -> goldUnparseable.incrementAndGet();
            case NO_ANSWER -> noAnswer.incrementAndGet();
            default -> { }
        }
        return rec == null ? new Explanation(r, null, null, null, null, null, List.of(), List.of()) : rec.finish(r);
    }

    /** What {@link #explain} collects while grading (written by the worker, read after it finished). */
    private static final class Recorder {
        volatile String goldExtracted, goldParsed, extracted, source, predictionParsed;
        final List<String> tried = new java.util.concurrent.CopyOnWriteArrayList<>();
        volatile List<String> rules = List.of();

        Explanation finish(GradeResult r) {
            return new Explanation(r, goldExtracted, goldParsed, extracted, source, predictionParsed, tried, rules);
        }
    }

    /** Says whether a gold answer can be graded against, and why not. */
    public GoldCheck validateGold(String gold) {
        try {
            return withDeadline(() -> {
                Gold g = readGold(gold);
                return g.answer == null ? new GoldCheck(false, null, g.reason) : new GoldCheck(true, g.answer.display(), null);
            });
        } catch (TimeoutException e) {
            return new GoldCheck(false, null, "reading the gold timed out");
        } catch (GraderFailure e) {
            return new GoldCheck(false, null, e.getMessage());
        }
    }

    @Override
    public void close() { workers.shutdownNow(); }

    // ---------------------------------------------------------------- deadline

    private <T> T withDeadline(Callable<T> task) throws TimeoutException {
        if (abandoned.get() >= options.maxAbandoned()) {
            throw new TimeoutException(abandoned.get() + " abandoned comparisons still running; refusing new work");
        }
        AtomicInteger state = new AtomicInteger(); // 0 running, 1 finished, 2 abandoned
        AtomicReference<Thread> runner = new AtomicReference<>();
        Future<T> f = workers.submit(() -> {
            runner.set(Thread.currentThread());
            try {
                return task.call();
            } finally {
                runner.set(null);
                if (!state.compareAndSet(0, 1)) abandoned.decrementAndGet(); // the caller gave up on us
            }
        });
        try {
            return f.get(options.deadline().toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            if (state.compareAndSet(0, 2)) {
                abandoned.incrementAndGet();
                Thread t = runner.get();
                f.cancel(true);
                if (t != null) SymjaCas.cancel(t);
                throw new TimeoutException("no verdict within " + options.deadline().toMillis() + " ms");
            }
            return join(f); // finished just now
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            f.cancel(true);
            throw new TimeoutException("interrupted");
        } catch (ExecutionException e) {
            throw new GraderFailure(e.getCause());
        }
    }

    /** A bug or resource failure inside a grade: reported as a scored-0 verdict, never thrown at the caller. */
    private static final class GraderFailure extends RuntimeException {
        GraderFailure(Throwable cause) { super("grader error: " + cause, cause); }
    }

    private static <T> T join(Future<T> f) {
        try {
            return f.get();
        } catch (InterruptedException | ExecutionException e) {
            throw new GraderFailure(e);
        }
    }

    private static long micros(long t0) { return (System.nanoTime() - t0) / 1000; }

    // ---------------------------------------------------------------- grading

    private record Gold(Answer answer, String text, String reason) {}

    private static Gold readGold(String gold) {
        List<AnswerExtractor.Extraction> cands = AnswerExtractor.goldCandidates(gold);
        if (cands.isEmpty()) return new Gold(null, null, "empty gold answer");
        String firstError = null;
        for (AnswerExtractor.Extraction c : cands) {
            Character letter = AnswerParser.choiceLetter(c.text());
            if (letter != null) return new Gold(new Answer.Choice(letter), c.text(), null);
            try {
                return new Gold(AnswerParser.parse(c.text(), c.plainText()), c.text(), null);
            } catch (AnswerParseException | ArithmeticException e) {
                if (firstError == null) firstError = "'" + abbreviate(c.text()) + "': " + e.getMessage();
            } catch (StackOverflowError e) {
                if (firstError == null) firstError = "'" + abbreviate(c.text()) + "': nested too deeply";
            }
        }
        return new Gold(null, null, firstError);
    }

    private GradeResult gradeNow(String goldText, String completion, long t0, Recorder rec) {
        Gold gold = readGold(goldText);
        if (rec != null) {
            rec.goldExtracted = gold.text;
            rec.goldParsed = gold.answer == null ? "unreadable: " + gold.reason : Explanation.describe(gold.answer);
        }
        if (gold.answer == null) return new GradeResult(false, null, Status.GOLD_UNPARSEABLE, gold.reason, micros(t0));
        if (gold.answer instanceof Answer.Choice c) {
            var letter = AnswerExtractor.choice(completion);
            if (letter.isPresent()) {
                boolean ok = letter.get() == c.letter();
                if (rec != null) {
                    rec.extracted = String.valueOf(letter.get());
                    rec.source = "choice";
                    rec.predictionParsed = "choice " + letter.get();
                    Trace.rule("multiple choice: the chosen letter against the gold letter");
                }
                return new GradeResult(ok, String.valueOf(letter.get()), ok ? Status.CORRECT : Status.WRONG,
                        "gold " + c.letter() + ", chose " + letter.get(), micros(t0));
            }
        }
        List<AnswerExtractor.Extraction> cands = AnswerExtractor.candidates(completion);
        if (cands.isEmpty()) return new GradeResult(false, null, Status.NO_ANSWER, "no answer found", micros(t0));
        String goldNorm = LatexNormalizer.normalize(gold.text, false);
        String firstError = null;
        for (AnswerExtractor.Extraction c : cands) {
            String extracted = c.text().strip();
            Answer pred;
            String where = c.source().name().toLowerCase(java.util.Locale.ROOT);
            try {
                pred = AnswerParser.parse(c.text(), c.plainText());
            } catch (AnswerParseException | ArithmeticException | StackOverflowError e) {
                if (LatexNormalizer.normalize(c.text(), false).equals(goldNorm) && !goldNorm.isEmpty()) {
                    if (rec != null) {
                        rec.extracted = extracted;
                        rec.source = where;
                        rec.predictionParsed = "unreadable: " + e.getMessage();
                        Trace.rule("same text as the gold after normalisation");
                    }
                    return new GradeResult(true, extracted, Status.CORRECT, "same text as the gold", micros(t0));
                }
                if (firstError == null) firstError = "answer '" + abbreviate(extracted) + "' unreadable: " + e.getMessage();
                if (rec != null) rec.tried.add(where + " '" + abbreviate(extracted) + "': unreadable: " + e.getMessage());
                continue;
            }
            if (rec != null) {
                rec.extracted = extracted;
                rec.source = where;
                rec.predictionParsed = Explanation.describe(pred);
            }
            boolean ok = judge.equivalent(gold.answer, pred);
            if (!ok) ok = sameAngle(gold, c);
            String detail = "gold " + gold.answer.display() + " vs " + pred.display() + " (" + where + ")";
            return new GradeResult(ok, extracted, ok ? Status.CORRECT : Status.WRONG, detail, micros(t0));
        }
        return new GradeResult(false, cands.getFirst().text().strip(), Status.WRONG, firstError, micros(t0));
    }

    /**
     * One side an angle in degrees, the other in radians (a multiple of π): {@code 60^\circ} answers {@code \frac{\pi}{3}}.
     * Only then are the degrees read as radians; elsewhere a degree sign is a label (45° answers 45).
     */
    private boolean sameAngle(Gold gold, AnswerExtractor.Extraction c) {
        boolean goldDeg = LatexNormalizer.hasDegrees(gold.text), predDeg = LatexNormalizer.hasDegrees(c.text());
        if (goldDeg == predDeg || !(goldDeg ? c.text() : gold.text).matches("(?s).*(?:\\\\pi|π).*")) return false;
        try {
            Answer g = goldDeg ? AnswerParser.parse(LatexNormalizer.degreesAsRadians(gold.text), false) : gold.answer;
            Answer p = predDeg ? AnswerParser.parse(LatexNormalizer.degreesAsRadians(c.text()), c.plainText()) : AnswerParser.parse(c.text(), c.plainText());
            boolean same = judge.equivalent(g, p);
            if (same) Trace.rule("an angle in degrees against radians: degrees read as radians");
            return same;
        } catch (AnswerParseException | ArithmeticException | StackOverflowError e) {
            return false;
        }
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
