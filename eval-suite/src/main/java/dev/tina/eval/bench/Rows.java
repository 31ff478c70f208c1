package dev.tina.eval.bench;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.util.ArrayList;
import java.util.List;

/** Reads data files into {@link Row}s: JSONL (one object a line) and CSV (RFC 4180, header row). */
public final class Rows {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Rows() {}

    /** Every non-blank line must be a JSON object; the error names {@code file:line}. */
    public static List<Row> jsonl(Reader in, String file) throws IOException {
        List<Row> out = new ArrayList<>();
        BufferedReader r = new BufferedReader(in);
        String line;
        int n = 0;
        while ((line = r.readLine()) != null) {
            n++;
            if (line.isBlank()) continue;
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (JacksonException e) {
                throw new IllegalArgumentException(file + ":" + n + ": not valid JSON: " + e.getOriginalMessage());
            }
            if (!(node instanceof ObjectNode)) throw new IllegalArgumentException(file + ":" + n + ": expected a JSON object, got " + node.getNodeType());
            out.add(new Row(file, n, node));
        }
        return out;
    }

    /**
     * CSV with a header row; quoted fields may hold commas, doubled quotes and line breaks (the GPQA
     * release is such a file). A row's line is the line where it starts.
     */
    public static List<Row> csv(Reader in, String file) throws IOException {
        BufferedReader r = new BufferedReader(in);
        List<Row> out = new ArrayList<>();
        List<String> header = null;
        List<String> fields = new ArrayList<>();
        StringBuilder cell = new StringBuilder();
        boolean quoted = false, cellStarted = false;
        int line = 1, rowStart = 1, c;
        while (true) {
            c = r.read();
            if (quoted) {
                if (c < 0) throw new IllegalArgumentException(file + ":" + rowStart + ": unterminated quoted field");
                if (c == '"') {
                    r.mark(1);
                    int next = r.read();
                    if (next == '"') {
                        cell.append('"');
                    } else {
                        quoted = false;
                        if (next >= 0) r.reset();
                    }
                } else {
                    if (c == '\n') line++;
                    cell.append((char) c);
                }
                continue;
            }
            if (c == '"' && !cellStarted) {
                quoted = true;
                cellStarted = true;
            } else if (c == ',') {
                fields.add(cell.toString());
                cell.setLength(0);
                cellStarted = false;
            } else if (c == '\n' || c == '\r' || c < 0) {
                if (c == '\r') {
                    r.mark(1);
                    if (r.read() != '\n') r.reset();
                }
                boolean empty = fields.isEmpty() && cell.isEmpty() && !cellStarted;
                if (!empty) {
                    fields.add(cell.toString());
                    if (header == null) {
                        header = List.copyOf(fields);
                    } else {
                        if (fields.size() != header.size()) {
                            throw new IllegalArgumentException(file + ":" + rowStart + ": " + fields.size() + " fields, the header has " + header.size());
                        }
                        ObjectNode o = JSON.createObjectNode();
                        for (int i = 0; i < header.size(); i++) o.put(header.get(i), fields.get(i));
                        out.add(new Row(file, rowStart, o));
                    }
                }
                fields.clear();
                cell.setLength(0);
                cellStarted = false;
                if (c < 0) break;
                line++;
                rowStart = line;
            } else {
                cell.append((char) c);
                cellStarted = true;
            }
        }
        if (header == null) throw new IllegalArgumentException(file + ": empty CSV (no header row)");
        return out;
    }
}
