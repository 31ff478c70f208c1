package dev.tina.export.checkpoint;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;

import java.io.IOException;
import java.nio.file.Path;

import java.util.stream.Collectors;

/** Jackson errors rewritten to name the JSON field they concern. */
public final class JsonErrors {
    private JsonErrors() {}

    /**
     * Reads {@code file} into {@code type}; malformed JSON, wrong types and failed validation in a
     * record's constructor all become one {@link CheckpointFormatException} naming the file and field.
     */
    public static <T> T read(ObjectMapper mapper, Path file, Class<T> type) throws IOException {
        try {
            return mapper.readValue(file.toFile(), type);
        } catch (ValueInstantiationException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new CheckpointFormatException(file + ": " + cause.getMessage(), e);
        } catch (JacksonException e) {
            throw new CheckpointFormatException(file + ": " + describe(e), e);
        }
    }

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
