package dev.tina.eval.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One graded sample: a line of {@code samples/VARIANT.jsonl}. Everything in it is a function of the run's
 * settings and (problem, sample), nothing of time, so an interrupted and resumed run writes the same lines.
 *
 * @param prompt     the exact text the model was given (chat template applied when chat is on)
 * @param extracted  the answer the grader found, null when none
 * @param answerKey  the grader's canonical form of {@code extracted}: what maj@k counts
 * @param verdict    the grader's status in lower case: correct, wrong, no_answer, timeout, gold_unparseable
 * @param tokens     generated tokens, a final EOS included
 * @param finish     {@code stop} (EOS or stop string) or {@code length} (max_new_tokens reached)
 */
public record SampleRecord(String benchmark, int problemIndex, String problemId, int sample, String prompt, String completion,
                           String gold, String extracted, String answerKey, String verdict, boolean correct, int tokens,
                           String finish, String detail) {

    /** Identifies a sample within a variant. */
    public record Key(String benchmark, int problemIndex, int sample) {}

    public Key key() { return new Key(benchmark, problemIndex, sample); }

    public String toJson(ObjectMapper json) {
        ObjectNode o = json.createObjectNode();
        o.put("benchmark", benchmark);
        o.put("problem_index", problemIndex);
        o.put("problem_id", problemId);
        o.put("sample_index", sample);
        o.put("prompt", prompt);
        o.put("completion", completion);
        o.put("gold", gold);
        o.put("extracted", extracted);
        o.put("answer_key", answerKey);
        o.put("verdict", verdict);
        o.put("correct", correct);
        o.put("tokens", tokens);
        o.put("finish_reason", finish);
        o.put("detail", detail);
        try {
            return json.writeValueAsString(o);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads a line written by {@link #toJson}; a missing or mistyped field is an error naming {@code origin}. */
    public static SampleRecord fromJson(JsonNode o, String origin) {
        return new SampleRecord(text(o, "benchmark", origin, false), integer(o, "problem_index", origin), text(o, "problem_id", origin, false),
                integer(o, "sample_index", origin), text(o, "prompt", origin, false), text(o, "completion", origin, false),
                text(o, "gold", origin, false), text(o, "extracted", origin, true), text(o, "answer_key", origin, true),
                text(o, "verdict", origin, false), bool(o, "correct", origin), integer(o, "tokens", origin), text(o, "finish_reason", origin, false),
                text(o, "detail", origin, true));
    }

    private static JsonNode field(JsonNode o, String name, String origin) {
        JsonNode v = o.get(name);
        if (v == null) throw new IllegalArgumentException(origin + ": missing field '" + name + "'");
        return v;
    }

    private static String text(JsonNode o, String name, String origin, boolean nullable) {
        JsonNode v = field(o, name, origin);
        if (v.isNull() && nullable) return null;
        if (!v.isTextual()) throw new IllegalArgumentException(origin + ": field '" + name + "' must be a string");
        return v.asText();
    }

    private static int integer(JsonNode o, String name, String origin) {
        JsonNode v = field(o, name, origin);
        if (!v.isInt() || v.asInt() < 0) throw new IllegalArgumentException(origin + ": field '" + name + "' must be a non-negative integer");
        return v.asInt();
    }

    private static boolean bool(JsonNode o, String name, String origin) {
        JsonNode v = field(o, name, origin);
        if (!v.isBoolean()) throw new IllegalArgumentException(origin + ": field '" + name + "' must be true or false");
        return v.asBoolean();
    }
}
