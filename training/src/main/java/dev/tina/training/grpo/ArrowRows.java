package dev.tina.training.grpo;

import dev.tina.export.checkpoint.CheckpointFormatException;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowStreamReader;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Rows of a Hugging Face {@code datasets} Arrow file (the IPC stream format that
 * {@code save_to_disk} writes), read with Apache Arrow's Java library: the named columns as text.
 */
final class ArrowRows {
    private ArrowRows() {}

    /** Each row's values of {@code columns} as strings (null where the value is null). */
    static List<String[]> read(Path file, List<String> columns) throws IOException {
        List<String[]> out = new ArrayList<>();
        try (BufferAllocator allocator = new RootAllocator();
             InputStream in = Files.newInputStream(file);
             ArrowStreamReader reader = new ArrowStreamReader(in, allocator)) {
            VectorSchemaRoot root = reader.getVectorSchemaRoot();
            for (String c : columns) {
                if (root.getSchema().getFields().stream().noneMatch(f -> f.getName().equals(c))) {
                    throw new CheckpointFormatException(file + ": no column '" + c + "', columns: "
                            + root.getSchema().getFields().stream().map(f -> f.getName()).toList());
                }
            }
            while (reader.loadNextBatch()) {
                List<FieldVector> vectors = new ArrayList<>();
                for (String c : columns) vectors.add(root.getVector(c));
                for (int r = 0; r < root.getRowCount(); r++) {
                    String[] row = new String[columns.size()];
                    for (int k = 0; k < row.length; k++) {
                        Object v = vectors.get(k).getObject(r);
                        row[k] = v == null ? null : v.toString();
                    }
                    out.add(row);
                }
            }
        } catch (IOException e) {
            throw new CheckpointFormatException(file + ": not a readable Arrow IPC stream: " + e.getMessage(), e);
        }
        return out;
    }
}
