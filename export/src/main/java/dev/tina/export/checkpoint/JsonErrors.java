package dev.tina.export.checkpoint;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonMappingException;

import java.util.stream.Collectors;

/** Jackson errors rewritten to name the JSON field they concern. */
public final class JsonErrors {
    private JsonErrors() {}

    public static String describe(JacksonException e) {
        String msg = e.getOriginalMessage();
        if (msg != null && msg.contains("FAIL_ON_NULL_FOR_PRIMITIVES")) msg = "null where a number is required";
        if (e instanceof JsonMappingException m && !m.getPath().isEmpty()) {
            String field = m.getPath().stream()
                    .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                    .collect(Collectors.joining("."));
            return "field '" + field + "': " + msg;
        }
        return msg;
    }
}
