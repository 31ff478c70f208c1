package dev.tina.eval.bench;

import dev.tina.eval.grading.GoldField;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** The benchmarks by name: the shipped ones, GPQA (given a file) and custom ones declared on the command line. */
public final class Catalog {
    private Catalog() {}

    private static final String QWEN = "QwenLM/Qwen2.5-Math@a45202bd16f1ec06f433442dc1152d0074773465 evaluation/data/%s/test.jsonl (MIT)";
    private static final String AREAL = "inclusionAI/AReaL@1b0306631b01becc329af59df560efb754be34af evaluation/data/%s/test.jsonl (Apache-2.0)";

    /** Shipped in this module's resources; sources and licenses in {@code benchmarks/README.md}. */
    public static final List<Benchmark.Shipped> SHIPPED = List.of(
            // AIME and AMC: the answer field (AMC's floats such as 27.0 mean 27); MATH-500 and Minerva: the last \boxed{} of the
            // reference solution; GSM8K: the text after ####
            new Benchmark.Shipped("aime24", "AIME24", "aime24/test.jsonl", "problem", "id", new GoldField.AnswerField("answer"), QWEN.formatted("aime24")),
            new Benchmark.Shipped("aime25", "AIME25", "aime25/test.jsonl", "problem", "id", new GoldField.AnswerField("answer"), AREAL.formatted("aime25")),
            new Benchmark.Shipped("amc23", "AMC23", "amc23/test.jsonl", "problem", "id", new GoldField.AnswerField("answer"), QWEN.formatted("amc23")),
            new Benchmark.Shipped("math500", "MATH500", "math500/test.jsonl", "problem", "unique_id", new GoldField.LastBoxed("solution"),
                    AREAL.formatted("math_500")),
            new Benchmark.Shipped("minerva", "Minerva", "minerva_math/test.jsonl", "problem", "idx", new GoldField.LastBoxed("solution"),
                    QWEN.formatted("minerva_math")),
            new Benchmark.Shipped("gsm8k", "GSM8K", "gsm8k/test.jsonl", "question", null, new GoldField.AfterHashes("answer"),
                    "openai/grade-school-math@3101c7d5072418e28b9008a6636bde82a006892c grade_school_math/data/test.jsonl (MIT)"));

    /** Spellings people use for the same benchmark, after {@link #key} folding. */
    private static final Map<String, String> ALIASES = Map.of("math", "math500", "minervamath", "minerva", "gpqadiamond", "gpqa", "aime2024", "aime24",
            "aime2025", "aime25", "amc2023", "amc23");

    /** Case, '-', '_' and ':' do not matter: {@code MATH-500}, {@code minerva_math}, {@code gpqa:diamond}. */
    static String key(String name) {
        String k = name.strip().toLowerCase(Locale.ROOT).replace("-", "").replace("_", "").replace(":", "");
        return ALIASES.getOrDefault(k, k);
    }

    /**
     * Parses {@code NAME=FILE[,problem=F][,answer=F|solution=F][,id=F]} (defaults: problem, answer, no id).
     */
    public static Benchmark.Custom parseCustom(String spec) {
        String[] parts = spec.split(",");
        int eq = parts[0].indexOf('=');
        if (eq <= 0 || eq == parts[0].length() - 1) {
            throw new IllegalArgumentException("--custom '" + spec + "': expected NAME=FILE[,problem=FIELD][,answer=FIELD|solution=FIELD][,id=FIELD]");
        }
        String name = parts[0].substring(0, eq).strip();
        Path file = Path.of(parts[0].substring(eq + 1).strip());
        Map<String, String> fields = new HashMap<>();
        for (int i = 1; i < parts.length; i++) {
            String[] kv = parts[i].split("=", 2);
            if (kv.length != 2 || kv[1].isBlank() || !Set.of("problem", "answer", "solution", "id").contains(kv[0].strip())) {
                throw new IllegalArgumentException("--custom '" + spec + "': '" + parts[i] + "' is not one of problem=FIELD, answer=FIELD, solution=FIELD, id=FIELD");
            }
            fields.put(kv[0].strip(), kv[1].strip());
        }
        if (SHIPPED.stream().anyMatch(b -> b.name().equals(key(name))) || key(name).equals("gpqa")) {
            throw new IllegalArgumentException("--custom '" + spec + "': '" + name + "' is the name of a built-in benchmark; choose another");
        }
        return new Benchmark.Custom(name, file, fields.getOrDefault("problem", "problem"), fields.get("answer"), fields.get("solution"), fields.get("id"));
    }

    /** The shipped benchmark of that name (any spelling {@link #key} folds); an unknown name is an error listing them. */
    public static Benchmark.Shipped shipped(String name) {
        String k = key(name);
        return SHIPPED.stream().filter(s -> s.name().equals(k)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown benchmark '" + name + "'; available: " + available(List.of())));
    }

    /** The benchmarks named in {@code names}, in that order; an unknown name is an error listing the available ones. */
    public static List<Benchmark> resolve(List<String> names, Path gpqaFile, List<Benchmark.Custom> customs) {
        if (names.isEmpty()) throw new IllegalArgumentException("no benchmarks given; available: " + available(customs));
        List<Benchmark> out = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        for (String raw : names) {
            if (raw.isBlank()) continue;
            String k = key(raw);
            Benchmark b = SHIPPED.stream().filter(s -> s.name().equals(k)).map(s -> (Benchmark) s).findFirst()
                    .or(() -> customs.stream().filter(c -> key(c.name()).equals(k)).map(c -> (Benchmark) c).findFirst())
                    .orElse(null);
            if (b == null && k.equals("gpqa")) {
                if (gpqaFile == null) {
                    throw new IllegalArgumentException("benchmark 'gpqa' is gated and not shipped: give your copy of GPQA-Diamond with --gpqa FILE "
                            + "(the official gpqa_diamond.csv, or JSONL with Question, Correct Answer, Incorrect Answer 1-3)");
                }
                b = new Benchmark.Gpqa(gpqaFile);
            }
            if (b == null) throw new IllegalArgumentException("unknown benchmark '" + raw.strip() + "'; available: " + available(customs));
            if (!seen.add(b.name())) throw new IllegalArgumentException("benchmark '" + b.name() + "' is listed twice");
            out.add(b);
        }
        if (out.isEmpty()) throw new IllegalArgumentException("no benchmarks given; available: " + available(customs));
        for (Benchmark.Custom c : customs) {
            if (!seen.contains(c.name())) throw new IllegalArgumentException("--custom '" + c.name() + "' is declared but not listed in --benchmarks");
        }
        return out;
    }

    static String available(List<Benchmark.Custom> customs) {
        List<String> names = new ArrayList<>();
        for (Benchmark.Shipped s : SHIPPED) names.add(s.name());
        names.add("gpqa (with --gpqa FILE)");
        for (Benchmark.Custom c : customs) names.add(c.name() + " (custom)");
        if (customs.isEmpty()) names.add("or a custom JSONL declared with --custom NAME=FILE[,problem=F][,answer=F|solution=F][,id=F]");
        return String.join(", ", names);
    }
}
