package dev.tina.eval.run;

import dev.tina.eval.bench.Problem;
import dev.tina.eval.grading.GoldCheck;
import dev.tina.eval.grading.GradeResult;
import dev.tina.eval.grading.Grader;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongConsumer;

/**
 * Generates, grades and records the missing samples of one variant.
 *
 * <p>Resume: the samples already in the log are skipped; the generator is handed exactly the missing (problem,
 * sample) pairs, across all benchmarks, in run order, and makes each as an uninterrupted run would have (see
 * {@link Generator}). A sample it hands back that is on disk already (a generator that makes more than asked)
 * is dropped, not written twice, and checked against the line on disk.
 *
 * <p>Grading and writing happen on one thread behind the sampler, so a slow grade (up to the grader's deadline)
 * never stalls decoding; when generation stops, by error or interruption, every finished completion is still
 * graded and written before this returns.
 */
public final class EvalRunner {

    /** What one invocation did for one variant (a line of {@code sessions.jsonl}). */
    public record Session(String variant, String started, int alreadyDone, int written, int discarded, int discardedDiffering, long tokens,
                          long discardedTokens, double generationSeconds, double seconds, boolean completed, boolean droppedTornLine) {}

    private final List<Problem> problems;
    private final List<String> prompts;
    private final int n;
    private final Grader grader;

    /**
     * @param problems the run's problems, in run order (their position is the sample streams' index)
     * @param prompts  the rendered prompt of each problem (recorded in each sample line)
     * @param n        samples per problem
     */
    public EvalRunner(List<Problem> problems, List<String> prompts, int n, Grader grader) {
        if (problems.size() != prompts.size()) throw new IllegalArgumentException("one prompt per problem");
        if (n < 1) throw new IllegalArgumentException("samples per problem must be >= 1");
        this.problems = List.copyOf(problems);
        this.prompts = List.copyOf(prompts);
        this.n = n;
        this.grader = grader;
    }

    /**
     * @param progress told the number of samples to make ({@code start}), then sees one unit per sample written
     */
    public Session run(String variant, Generator generator, SampleLog log, ProgressSink progress) throws Exception {
        String started = java.time.Instant.now().toString();
        long t0 = System.nanoTime();
        Map<String, Integer> firstIndex = new HashMap<>(), counts = new HashMap<>();
        for (int i = 0; i < problems.size(); i++) {
            firstIndex.putIfAbsent(problems.get(i).benchmark(), i);
            counts.merge(problems.get(i).benchmark(), 1, Integer::sum);
        }
        Set<SampleRecord.Key> done = ConcurrentHashMap.newKeySet();
        for (SampleRecord r : log.existing()) {
            checkBelongs(r, firstIndex, counts, log);
            done.add(r.key());
        }
        int alreadyDone = done.size();
        List<Generator.Pending> todo = new ArrayList<>();
        for (int i = 0; i < problems.size(); i++) {
            int[] missing = new int[n];
            int count = 0;
            for (int s = 0; s < n; s++) if (!done.contains(key(i, s))) missing[count++] = s;
            if (count > 0) todo.add(new Generator.Pending(i, Arrays.copyOf(missing, count)));
        }
        // hashes of the completions on disk, to check a sample made again comes out the same
        Map<SampleRecord.Key, Integer> onDisk = new HashMap<>();
        for (SampleRecord r : log.existing()) onDisk.putIfAbsent(r.key(), r.completion().hashCode());
        int pending = problems.size() * n - alreadyDone;
        LongConsumer bar = progress.start(variant, pending, alreadyDone);
        if (pending == 0) {
            Session s = new Session(variant, started, alreadyDone, 0, 0, 0, 0, 0, 0, seconds(t0), true, log.droppedTornLine());
            progress.finished(s);
            return s;
        }

        List<String> messages = new ArrayList<>(problems.size());
        for (Problem p : problems) messages.add(p.message());
        AtomicInteger written = new AtomicInteger(), discarded = new AtomicInteger(), differing = new AtomicInteger();
        AtomicLong tokens = new AtomicLong(), discardedTokens = new AtomicLong();
        AtomicReference<Throwable> writeFailure = new AtomicReference<>();
        ExecutorService writer = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "tina-eval-writer");
            t.setDaemon(true);
            return t;
        });
        boolean completed = false;
        long g0 = System.nanoTime(), g1 = g0;
        try {
            generator.generate(messages, todo, n, g -> {
                Throwable failed = writeFailure.get();
                if (failed != null) throw new IllegalStateException("writing " + log.file() + " failed: " + failed, failed);
                tokens.addAndGet(g.tokens());
                SampleRecord.Key k = key(g.index(), g.sample());
                if (!done.add(k)) { // on disk already: the same sample again, not written twice
                    discarded.incrementAndGet();
                    // a free reproducibility check: it should equal the line on disk (which is kept either way)
                    Integer hash = onDisk.get(k);
                    if (hash != null && hash != g.text().hashCode()) differing.incrementAndGet();
                    discardedTokens.addAndGet(g.tokens());
                    return;
                }
                writer.execute(() -> {
                    try {
                        log.append(grade(g));
                        written.incrementAndGet();
                        bar.accept(1);
                    } catch (Throwable t) {
                        writeFailure.compareAndSet(null, t);
                    }
                });
            });
            completed = true;
        } finally {
            g1 = System.nanoTime();
            writer.shutdown();
            // drain: everything that finished is graded and on disk before we report or rethrow
            while (!writer.awaitTermination(1, TimeUnit.SECONDS)) {
                // grading is bounded by the grader's deadline per sample; keep waiting
            }
            progress.finished(new Session(variant, started, alreadyDone, written.get(), discarded.get(), differing.get(), tokens.get(), discardedTokens.get(),
                    (g1 - g0) / 1e9, seconds(t0), completed && writeFailure.get() == null, log.droppedTornLine()));
        }
        if (writeFailure.get() != null) {
            Throwable t = writeFailure.get();
            if (t instanceof IOException e) throw e;
            throw new IllegalStateException("writing " + log.file() + " failed: " + t, t);
        }
        return new Session(variant, started, alreadyDone, written.get(), discarded.get(), differing.get(), tokens.get(), discardedTokens.get(),
                (g1 - g0) / 1e9, seconds(t0), true, log.droppedTornLine());
    }

    /** Told how much work there is; the returned consumer sees one unit per sample written; then told how it went. */
    public interface ProgressSink {
        ProgressSink NONE = (v, p, d) -> x -> { };

        LongConsumer start(String variant, int pending, int alreadyDone);

        /** Called once per {@link EvalRunner#run}, also when it fails or is interrupted (then {@code completed} is false). */
        default void finished(Session session) {}
    }

    private SampleRecord.Key key(int index, int sample) {
        Problem p = problems.get(index);
        return new SampleRecord.Key(p.benchmark(), p.index(), sample);
    }

    /** A line on disk must be a sample of this very run: same problem id and same prompt text. */
    private void checkBelongs(SampleRecord r, Map<String, Integer> firstIndex, Map<String, Integer> counts, SampleLog log) {
        String where = log.file() + ": sample " + r.sample() + " of " + r.benchmark() + " problem " + r.problemIndex();
        Integer base = firstIndex.get(r.benchmark());
        if (base == null || r.problemIndex() >= counts.get(r.benchmark()) || r.sample() >= n) {
            throw new IllegalArgumentException(where + " is outside this run (" + problems.size() + " problems × " + n
                    + " samples); the folder belongs to another run: use another --out");
        }
        Problem p = problems.get(base + r.problemIndex());
        if (!p.id().equals(r.problemId()) || !prompts.get(base + r.problemIndex()).equals(r.prompt())) {
            throw new IllegalArgumentException(where + " has problem id '" + r.problemId() + "' and a prompt that differ from this run's ('"
                    + p.id() + "'); the folder belongs to another run: use another --out");
        }
    }

    private SampleRecord grade(Generated g) {
        Problem p = problems.get(g.index());
        GradeResult r = grader.grade(p.gold(), g.text());
        return new SampleRecord(p.benchmark(), p.index(), p.id(), g.sample(), prompts.get(g.index()), g.text(), p.gold(), r.extracted(),
                r.extracted() == null ? null : answerKey(r.extracted()), r.status().name().toLowerCase(Locale.ROOT), r.correct(), g.tokens(),
                g.finish(), r.detail());
    }

    /** The grader's canonical form (so {@code 0.5} and {@code \frac12} vote together), else the text with spaces folded. */
    private String answerKey(String extracted) {
        GoldCheck c = grader.validateGold(extracted);
        return c.parseable() ? c.answer() : extracted.strip().replaceAll("\\s+", " ");
    }

    private static double seconds(long t0) { return (System.nanoTime() - t0) / 1e9; }
}
