package dev.tina.eval.bench;

import com.fasterxml.jackson.databind.JsonNode;

/** One record of a data file with where it came from: {@code origin} is {@code file:line}. */
public record Row(String file, int line, JsonNode fields) {

    public String origin() { return file + ":" + line; }

    /** A required text field; the error names file, line and field. */
    public String text(String field) {
        JsonNode v = fields.get(field);
        if (v == null || v.isNull()) throw new IllegalArgumentException(origin() + ": missing field '" + field + "'");
        if (v.isContainerNode()) throw new IllegalArgumentException(origin() + ": field '" + field + "' is not text or a number");
        return v.asText();
    }

    /** An optional field as text, or {@code fallback}. */
    public String textOr(String field, String fallback) {
        JsonNode v = field == null ? null : fields.get(field);
        return v == null || v.isNull() || v.isContainerNode() ? fallback : v.asText();
    }
}
