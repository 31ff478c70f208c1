package dev.tina.eval.bench;

import dev.tina.eval.grading.GoldField;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/** A set of problems with gold answers: shipped with the product, GPQA from a user's file, or a custom JSONL. */
public sealed interface Benchmark {

    /** The key in {@code --benchmarks}, file names and reports. */
    String name();

    /** The column header, spelled as in the paper's table. */
    String label();

    /** Where the data came from (for the report's provenance). */
    String source();

    /** The raw bytes of the data file (hashed into the provenance). */
    byte[] bytes() throws IOException;

    /** The problems in file order; {@code limit > 0} keeps the first {@code limit}. */
    List<Problem> load(int limit) throws IOException;

    default String sha256() throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A benchmark copied into this module's resources ({@code benchmarks/…}, see its README for sources and
     * licenses); {@code gold} reads each row's gold answer as Tina's evaluation read it.
     */
    record Shipped(String name, String label, String resource, String problemField, String idField, GoldField gold, String source)
            implements Benchmark {
        @Override
        public byte[] bytes() throws IOException {
            try (InputStream in = Benchmark.class.getResourceAsStream("/benchmarks/" + resource)) {
                if (in == null) throw new IllegalStateException("benchmark resource benchmarks/" + resource + " is missing from the build");
                return in.readAllBytes();
            }
        }

        @Override
        public List<Problem> load(int limit) throws IOException {
            List<Problem> out = new ArrayList<>();
            for (Row row : rows(text(bytes()), "benchmarks/" + resource, false)) {
                if (limit > 0 && out.size() == limit) break;
                int index = out.size();
                out.add(new Problem(name, index, row.textOr(idField, Integer.toString(index)), PromptTemplates.math(row.text(problemField)),
                        readGold(gold, row), row.origin()));
            }
            return out;
        }
    }

    /**
     * GPQA-Diamond from the user's copy (it is gated, so not shipped): the official CSV or a JSONL with the
     * same columns ({@code Question}, {@code Correct Answer}, {@code Incorrect Answer 1..3}, optional
     * {@code Record ID}). The four options are shuffled by a fixed seed mixed with the question text, so a
     * question's letter does not depend on the file's order or on {@code --seed}; the gold is that letter.
     */
    record Gpqa(Path file) implements Benchmark {
        /** Fixed, so that the option order is part of the benchmark, not of the run. */
        public static final long SHUFFLE_SEED = 0x6770716144L;

        @Override public String name() { return "gpqa"; }

        @Override public String label() { return "GPQA-D"; }

        @Override public String source() { return "user file " + file.toAbsolutePath().normalize() + " (GPQA-Diamond, gated; not shipped)"; }

        @Override
        public byte[] bytes() throws IOException { return readFile(file); }

        @Override
        public List<Problem> load(int limit) throws IOException {
            List<Problem> out = new ArrayList<>();
            boolean csv = file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".csv");
            for (Row row : rows(text(bytes()), file.toString(), csv)) {
                if (limit > 0 && out.size() == limit) break;
                String question = row.text("Question").strip();
                List<String> options = new ArrayList<>(4);
                options.add(row.text("Correct Answer").strip());
                for (int i = 1; i <= 3; i++) options.add(row.text("Incorrect Answer " + i).strip());
                for (String o : options) {
                    if (o.isEmpty()) throw new IllegalArgumentException(row.origin() + ": an answer option is empty (missing gold answer or distractor)");
                }
                String correct = options.getFirst();
                shuffle(options, new SplittableRandom(SHUFFLE_SEED ^ question.hashCode()));
                char letter = (char) ('A' + options.indexOf(correct));
                int index = out.size();
                out.add(new Problem(name(), index, row.textOr("Record ID", Integer.toString(index)), PromptTemplates.choice(question, options),
                        String.valueOf(letter), row.origin()));
            }
            return out;
        }

        /** Fisher–Yates, spelled out so that the order never depends on a library's shuffle. */
        static void shuffle(List<String> xs, SplittableRandom rng) {
            for (int i = xs.size() - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                String t = xs.get(i);
                xs.set(i, xs.get(j));
                xs.set(j, t);
            }
        }
    }

    /**
     * Any JSONL with a field mapping: the problem text from {@code problem}; the gold from {@code answer}
     * (taken as written, as for AIME) or, when only {@code solution} is mapped, the last {@code \boxed{}} of
     * that field (as for MATH-500). Prompted with the math template.
     */
    record Custom(String name, Path file, String problemField, String answerField, String solutionField, String idField) implements Benchmark {
        public Custom {
            if (!name.matches("[a-z0-9][a-z0-9_-]*")) throw new IllegalArgumentException("custom benchmark name '" + name + "': use lower-case letters, digits, '-' and '_'");
            if (answerField != null && solutionField != null) {
                throw new IllegalArgumentException("custom benchmark '" + name + "': map either answer= or solution= for the gold, not both");
            }
        }

        @Override public String label() { return name; }

        @Override public String source() { return "user file " + file.toAbsolutePath().normalize() + " (custom JSONL)"; }

        @Override
        public byte[] bytes() throws IOException { return readFile(file); }

        public GoldField gold() {
            return solutionField != null ? new GoldField.LastBoxed(solutionField) : new GoldField.AnswerField(answerField == null ? "answer" : answerField);
        }

        @Override
        public List<Problem> load(int limit) throws IOException {
            GoldField gold = gold();
            List<Problem> out = new ArrayList<>();
            for (Row row : rows(text(bytes()), file.toString(), false)) {
                if (limit > 0 && out.size() == limit) break;
                int index = out.size();
                out.add(new Problem(name, index, row.textOr(idField, Integer.toString(index)), PromptTemplates.math(row.text(problemField)),
                        readGold(gold, row), row.origin()));
            }
            if (out.isEmpty()) throw new IllegalArgumentException(file + ": no problems");
            return out;
        }
    }

    private static List<Row> rows(Reader in, String file, boolean csv) throws IOException {
        try (in) {
            return csv ? Rows.csv(in, file) : Rows.jsonl(in, file);
        }
    }

    /** The file as text; a UTF-8 byte-order mark (spreadsheet exports write one) is not part of the first field name. */
    private static Reader text(byte[] bytes) {
        String s = new String(bytes, StandardCharsets.UTF_8);
        return new java.io.StringReader(s.startsWith("\uFEFF") ? s.substring(1) : s);
    }

    private static byte[] readFile(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new NoSuchFileException(file.toString());
        return Files.readAllBytes(file);
    }

    /** The gold through {@link GoldField}, its errors given the row's {@code file:line}. */
    private static String readGold(GoldField gold, Row row) {
        try {
            return gold.gold(row.fields());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(row.origin() + ": missing gold answer: " + e.getMessage());
        }
    }
}
