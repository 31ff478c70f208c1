package dev.tina.eval.grading;

import com.fasterxml.jackson.databind.JsonNode;

import java.math.BigDecimal;

/** Where a benchmark keeps its gold answer, read the way Tina's evaluation read it (each shipped benchmark names its own in {@code Catalog}). */
public sealed interface GoldField {

    /** The gold answer of one dataset row. */
    String gold(JsonNode row);

    /** AIME / AMC: the {@code answer} field; AMC's floats such as {@code 27.0} mean 27. */
    record AnswerField(String field) implements GoldField {
        @Override
        public String gold(JsonNode row) {
            JsonNode v = require(row, field);
            String s = v.isNumber() ? v.decimalValue().toPlainString() : v.asText().strip();
            try {
                BigDecimal d = new BigDecimal(s);
                if (d.stripTrailingZeros().scale() <= 0) return d.toBigInteger().toString();
            } catch (NumberFormatException notANumber) {
                // a symbolic answer stays as written
            }
            return s;
        }
    }

    /** MATH-500 / Minerva: the last {@code \boxed{}} of the reference {@code solution}. */
    record LastBoxed(String field) implements GoldField {
        @Override
        public String gold(JsonNode row) {
            String solution = require(row, field).asText();
            int at = Math.max(solution.lastIndexOf("\\boxed"), solution.lastIndexOf("\\fbox"));
            if (at < 0) throw new IllegalArgumentException("field '" + field + "' has no \\boxed{} answer");
            int open = solution.indexOf('{', at);
            int close = open < 0 ? -1 : LatexNormalizer.matchingBrace(solution, open);
            if (close < 0) throw new IllegalArgumentException("field '" + field + "' has an unclosed \\boxed{");
            return solution.substring(open + 1, close).strip();
        }
    }

    /** GSM8K: the text after {@code ####} in {@code answer}, thousands commas removed. */
    record AfterHashes(String field) implements GoldField {
        @Override
        public String gold(JsonNode row) {
            String s = require(row, field).asText();
            int at = s.lastIndexOf("####");
            if (at < 0) throw new IllegalArgumentException("field '" + field + "' has no '####' answer");
            return s.substring(at + 4).strip().replace(",", "");
        }
    }

    private static JsonNode require(JsonNode row, String field) {
        JsonNode v = row.get(field);
        if (v == null || v.isNull()) throw new IllegalArgumentException("missing field '" + field + "'");
        return v;
    }
}
