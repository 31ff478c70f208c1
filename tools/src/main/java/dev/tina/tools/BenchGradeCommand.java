package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tina.eval.bench.Benchmark;
import dev.tina.eval.bench.Catalog;
import dev.tina.eval.grading.GoldField;
import dev.tina.eval.grading.GradeResult;
import dev.tina.eval.grading.Grader;
import dev.tina.export.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Grading throughput on the shipped MATH-500 and Minerva data: each gold against its reference solution (a full
 * worked answer, graded correct), against a completion as long as Tina's 3,584-token limit (the solution repeated as
 * reasoning, then the solution) and against another problem's gold (mostly wrong). One caller thread first, then
 * {@code --threads}: the single thread is the baseline of the same run. With a GRPO step's time and completion count
 * it also says what share of the step the accuracy reward takes.
 */
@Command(name = "grade", mixinStandardHelpOptions = true,
        description = "Grading throughput (cases/s) on the shipped MATH-500 and Minerva answers: one thread, then --threads; "
                + "and the share of a GRPO step spent grading its completions.")
final class BenchGradeCommand implements Callable<Integer> {
    @Option(names = "--threads", defaultValue = "0", description = "caller threads of the second pass; 0 = one per core") int threads;
    @Option(names = "--repeats", defaultValue = "5", description = "passes over the cases per setting (alternating), the best is reported; default ${DEFAULT-VALUE}") int repeats;
    @Option(names = "--deadline-ms", defaultValue = "5000", description = "the grader's deadline; default ${DEFAULT-VALUE}") long deadlineMs;
    @Option(names = "--step-seconds", description = "a GRPO step's wall time to compare with (e.g. README's 121.7 s for open-rs2 at 1.5B)") Double stepSeconds;
    @Option(names = "--completions-per-step", defaultValue = "48", description = "completions graded per GRPO step (open-rs: 8 prompts × 6); default ${DEFAULT-VALUE}") int perStep;
    @Option(names = "--out", description = "write the results as JSON too") Path out;

    @Spec CommandSpec spec;

    static final int LONG_COMPLETION_CHARS = 12_000;

    record Case(String gold, String completion) {}

    record Pass(int threads, double seconds, long correct, long timeouts, double[] micros) {
        double casesPerSecond() { return micros.length / seconds; }

        double percentile(double p) {
            double[] s = micros.clone();
            Arrays.sort(s);
            return s[Math.min(s.length - 1, (int) Math.floor(p * s.length))];
        }
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter o = spec.commandLine().getOut();
        if (repeats < 1) throw new IllegalArgumentException("--repeats must be at least 1");
        List<Case> cases = cases();
        int workers = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        try (Grader grader = new Grader(new Grader.Options(Duration.ofMillis(deadlineMs), Math.max(8, 4 * workers)))) {
            grader.warmUp();
            for (int i = 0; i < 2; i++) run(grader, cases, workers); // JIT warm-up, not reported
            // the two settings alternate, so a slow spell of the machine does not favour one of them
            Pass single = null, multi = null;
            for (int i = 0; i < repeats; i++) {
                Pass a = run(grader, cases, 1), b = run(grader, cases, workers);
                if (single == null || a.seconds() < single.seconds()) single = a;
                if (multi == null || b.seconds() < multi.seconds()) multi = b;
            }
            o.printf(Locale.ROOT, "cases: %d (MATH-500 and Minerva: each gold vs its reference solution, vs a 12,000-character completion ending in it, vs another gold)%n", cases.size());
            for (Pass p : List.of(single, multi)) {
                o.printf(Locale.ROOT, "%d thread%s: %.0f cases/s (%.2f s), per case p50 %.2f ms, p99 %.2f ms, max %.1f ms; correct %d, timeouts %d%n",
                        p.threads(), p.threads() == 1 ? "" : "s", p.casesPerSecond(), p.seconds(), p.percentile(0.5) / 1000, p.percentile(0.99) / 1000,
                        Arrays.stream(p.micros()).max().orElse(0) / 1000, p.correct(), p.timeouts());
            }
            o.printf(Locale.ROOT, "%d threads vs 1: %.2fx%n", workers, multi.casesPerSecond() / single.casesPerSecond());
            double perStepSeconds = perStep / multi.casesPerSecond();
            o.printf(Locale.ROOT, "a GRPO step's %d completions: %.1f ms of grading", perStep, perStepSeconds * 1000);
            if (stepSeconds != null) o.printf(Locale.ROOT, ", %.4f%% of a %.1f s step", 100 * perStepSeconds / stepSeconds, stepSeconds);
            o.println();
            if (out != null) {
                ObjectMapper json = new ObjectMapper();
                ObjectNode r = json.createObjectNode();
                r.put("cases", cases.size());
                r.put("grader", Grader.VERSION);
                for (Pass p : List.of(single, multi)) {
                    ObjectNode x = r.putObject(p.threads() == 1 ? "one_thread" : "threads_" + p.threads());
                    x.put("cases_per_second", p.casesPerSecond());
                    x.put("p50_ms", p.percentile(0.5) / 1000);
                    x.put("p99_ms", p.percentile(0.99) / 1000);
                    x.put("correct", p.correct());
                    x.put("timeouts", p.timeouts());
                }
                r.put("speedup_threads_vs_one", multi.casesPerSecond() / single.casesPerSecond());
                r.put("grpo_step_completions", perStep);
                r.put("grpo_step_grading_seconds", perStepSeconds);
                if (stepSeconds != null) r.put("grpo_step_share", perStepSeconds / stepSeconds);
                AtomicFiles.writeString(out, json.writerWithDefaultPrettyPrinter().writeValueAsString(r));
            }
        }
        o.flush();
        return 0;
    }

    private static Pass run(Grader grader, List<Case> cases, int n) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(r, "tina-bench-grade");
            t.setDaemon(true);
            return t;
        });
        try {
            long t0 = System.nanoTime();
            List<Future<GradeResult>> fs = new ArrayList<>(cases.size());
            for (Case c : cases) fs.add(pool.submit(() -> grader.grade(c.gold(), c.completion())));
            double[] micros = new double[cases.size()];
            long correct = 0, timeouts = 0;
            for (int i = 0; i < fs.size(); i++) {
                GradeResult r = fs.get(i).get();
                micros[i] = r.micros();
                if (r.correct()) correct++;
                if (r.status() == GradeResult.Status.TIMEOUT) timeouts++;
            }
            return new Pass(n, (System.nanoTime() - t0) / 1e9, correct, timeouts, micros);
        } finally {
            pool.shutdownNow();
        }
    }

    /** From the shipped copies only (never ../shared): the product benchmarks itself on what it ships. */
    static List<Case> cases() throws Exception {
        ObjectMapper json = new ObjectMapper();
        List<Case> out = new ArrayList<>();
        for (String name : List.of("math500", "minerva")) {
            Benchmark.Shipped b = Catalog.SHIPPED.stream().filter(x -> x.name().equals(name)).findFirst().orElseThrow();
            GoldField field = b.gold();
            List<JsonNode> rows = new ArrayList<>();
            for (String line : new String(b.bytes(), StandardCharsets.UTF_8).split("\n")) if (!line.isBlank()) rows.add(json.readTree(line));
            for (int i = 0; i < rows.size(); i++) {
                String gold = field.gold(rows.get(i));
                String solution = rows.get(i).get("solution").asText();
                out.add(new Case(gold, solution));
                // as long as a 3,584-token completion (about 12,000 characters): reasoning, then the answer
                StringBuilder think = new StringBuilder("<think>\n");
                while (think.length() < LONG_COMPLETION_CHARS) think.append(solution).append("\nWait, let me check that again.\n");
                out.add(new Case(gold, think.append("</think>\n").append(solution).toString()));
                out.add(new Case(gold, "Therefore, the final answer is: $\\boxed{" + field.gold(rows.get((i + 37) % rows.size())) + "}$. I hope it is correct"));
            }
        }
        return out;
    }
}
