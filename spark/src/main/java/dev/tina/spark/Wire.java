package dev.tina.spark;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;

/**
 * Java serialisation of task results into bytes, done by us rather than inside Spark so that a
 * step can report how long it took and how many bytes moved. The classes are our own records of
 * arrays; Java serialisation writes float[] as one block, so Kryo would save little here.
 */
final class Wire {
    private Wire() {}

    static byte[] write(Serializable o) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(1 << 16);
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        }
        return bytes.toByteArray();
    }

    static <T> T read(byte[] b, Class<T> type) throws IOException {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
            return type.cast(in.readObject());
        } catch (ClassNotFoundException e) {
            throw new IOException("task result of an unknown class (driver and executors run different tina builds?): " + e.getMessage(), e);
        }
    }
}
