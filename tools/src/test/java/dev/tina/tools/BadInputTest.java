package dev.tina.tools;

import dev.tina.testsupport.Shared;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bad input through the command line: every failure exits non-zero with one line on stderr that
 * names the offending file and, where there is one, the tensor or field, and leaves neither the
 * --out folder nor a temporary sibling of it behind.
 */
class BadInputTest {
    static final Path SHARED = Shared.ROOT;
    static final Path FIXTURE = SHARED.resolve("fixtures/qwen2-small");
    static final ObjectMapper JSON = new ObjectMapper();

    /** Runs {@code tina args...} in-process with stdout and stderr captured. */
    static Cli.Run tina(String... args) { return Cli.tina(args); }

    // ---- fixture copies -------------------------------------------------------------------

    static Path copyModel(Path tmp) throws IOException {
        return copyDir(FIXTURE.resolve("model"), tmp.resolve("model"));
    }

    static Path copyAdapter(Path tmp) throws IOException {
        return copyDir(FIXTURE.resolve("adapter"), tmp.resolve("adapter"));
    }

    static Path copyDir(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path f : s.toList()) Files.copy(f, to.resolve(f.getFileName()));
        }
        return to;
    }

    // ---- raw safetensors editing ------------------------------------------------------------

    /** A safetensors file taken apart: its header as JSON and its data section. */
    record Raw(ObjectNode header, byte[] data) {
        static Raw read(Path file) throws IOException {
            byte[] all = Files.readAllBytes(file);
            long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            ObjectNode header = (ObjectNode) JSON.readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
            byte[] data = java.util.Arrays.copyOfRange(all, 8 + (int) n, all.length);
            return new Raw(header, data);
        }

        /** Writes the header (padded to 8 bytes) and the data as they are. */
        void write(Path file) throws IOException {
            writeRaw(file, JSON.writeValueAsBytes(header), data);
        }

        ObjectNode entry(String name) {
            JsonNode e = header.get(name);
            if (e == null) throw new AssertionError("fixture lacks tensor " + name);
            return (ObjectNode) e;
        }

        long[] offsets(String name) {
            JsonNode o = entry(name).get("data_offsets");
            return new long[]{o.get(0).asLong(), o.get(1).asLong()};
        }

        void setOffsets(String name, long begin, long end) {
            ArrayNode o = entry(name).putArray("data_offsets");
            o.add(begin).add(end);
        }

        /** A copy without the named tensors, with the data section repacked (no gaps). */
        Raw without(String... names) {
            ObjectNode h = JSON.createObjectNode();
            ByteArrayOutputStream d = new ByteArrayOutputStream();
            List<String> drop = List.of(names);
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                var e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    h.set(e.getKey(), e.getValue().deepCopy());
                    continue;
                }
                if (drop.contains(e.getKey())) continue;
                long[] off = offsets(e.getKey());
                ObjectNode n = e.getValue().deepCopy();
                long begin = d.size();
                d.write(data, (int) off[0], (int) (off[1] - off[0]));
                n.putArray("data_offsets").add(begin).add(d.size());
                h.set(e.getKey(), n);
            }
            return new Raw(h, d.toByteArray());
        }
    }

    static void writeRaw(Path file, byte[] headerJson, byte[] data) throws IOException {
        int padded = (headerJson.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(headerJson);
        while (b.position() < 8 + padded) b.put((byte) ' ');
        b.put(data);
        Files.write(file, b.array());
    }

    static ObjectNode readJson(Path file) throws IOException {
        return (ObjectNode) JSON.readTree(file.toFile());
    }

    static void writeJson(Path file, JsonNode node) throws IOException {
        Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(node));
    }

    // ---- assertions -------------------------------------------------------------------------

    /** The error line, after checking exit code and that stderr holds exactly one line. */
    static String assertOneErrorLine(Cli.Run r, String command) {
        assertNotEquals(0, r.code(), "expected a failure; stdout: " + r.out() + "\nstderr: " + r.err());
        String err = r.err().replaceFirst("(\\r?\\n)$", "");
        assertFalse(err.isBlank(), "stderr is empty");
        assertFalse(err.contains("\n") || err.contains("\r"), "stderr must be one line, got:\n" + r.err());
        assertTrue(err.startsWith("tina " + command + ": error: "), err);
        return err;
    }

    /** No temporary sibling folder of {@code out} is left in its parent. */
    static void assertNoTempSiblings(Path out) throws IOException {
        Path parent = out.toAbsolutePath().getParent();
        if (!Files.isDirectory(parent)) return;
        String prefix = "." + out.getFileName() + ".tmp-";
        try (Stream<Path> s = Files.list(parent)) {
            List<String> left = s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix)).toList();
            assertTrue(left.isEmpty(), "temporary folders left behind: " + left);
        }
    }

    /** Exit code, one error line, no --out folder and no temporaries; returns the error line. */
    static String assertFailsCleanly(Cli.Run r, String command, Path out) throws IOException {
        String err = assertOneErrorLine(r, command);
        assertFalse(Files.exists(out), "--out must not exist after a failure: " + out);
        assertNoTempSiblings(out);
        return err;
    }

    static void assertContains(String message, String... parts) {
        for (String p : parts) assertTrue(message.contains(p), "expected '" + p + "' in: " + message);
    }

    static Cli.Run export(Path model, Path out) {
        return tina("export", "--model", model.toString(), "--out", out.toString());
    }

    static Cli.Run merge(Path model, Path adapter, Path out) {
        return tina("merge", "--model", model.toString(), "--adapter", adapter.toString(), "--out", out.toString());
    }

    // ---- cases --------------------------------------------------------------------------------

    @Test
    void truncatedSafetensors(@TempDir Path tmp) throws IOException {
        Path model = copyModel(tmp);
        Path st = model.resolve("model.safetensors");
        Raw raw = Raw.read(st);
        long dataStart = Files.size(st) - raw.data().length;
        try (var ch = java.nio.channels.FileChannel.open(st, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(dataStart + raw.data().length / 2);
        }
        Path out = tmp.resolve("out");
        String err = assertFailsCleanly(export(model, out), "export", out);
        assertContains(err, st.toString(), "tensor '", "truncated");
    }

    @Test
    void dataOffsetsPastTheEndOfTheFile(@TempDir Path tmp) throws IOException {
        Path model = copyModel(tmp);
        Path st = model.resolve("model.safetensors");
        Raw raw = Raw.read(st);
        long[] off = raw.offsets("model.norm.weight");
        long len = off[1] - off[0];
        raw.setOffsets("model.norm.weight", raw.data().length, raw.data().length + len);
        raw.write(st);
        Path out = tmp.resolve("out");
        String err = assertFailsCleanly(export(model, out), "export", out);
        assertContains(err, st.toString(), "'model.norm.weight'", "data_offsets");
    }

    @Test
    void unknownDtype(@TempDir Path tmp) throws IOException {
        Path model = copyModel(tmp);
        Path st = model.resolve("model.safetensors");
        Raw raw = Raw.read(st);
        raw.entry("model.layers.0.self_attn.q_proj.weight").put("dtype", "F8_E4M3");
        raw.write(st);
        Path out = tmp.resolve("out");
        String err = assertFailsCleanly(export(model, out), "export", out);
        assertContains(err, st.toString(), "'model.layers.0.self_attn.q_proj.weight'", "F8_E4M3");
    }

    @Test
    void missingTensor(@TempDir Path tmp) throws IOException {
        Path model = copyModel(tmp);
        Path st = model.resolve("model.safetensors");
        Raw.read(st).without("model.layers.1.mlp.up_proj.weight").write(st);
        Path out = tmp.resolve("out");
        String err = assertFailsCleanly(export(model, out), "export", out);
        // The message names the checkpoint folder (the tensor may belong to any shard).
        assertContains(err, model.toString(), "missing tensor", "'model.layers.1.mlp.up_proj.weight'");
    }

    @Test
    void tensorShapeDisagreesWithConfig(@TempDir Path tmp) throws IOException {
        Path model = copyModel(tmp);
        ObjectNode config = readJson(model.resolve("config.json"));
        config.put("intermediate_size", 64); // the file's MLP tensors are 48 wide
        writeJson(model.resolve("config.json"), config);
        Path out = tmp.resolve("out");
        String err = assertFailsCleanly(export(model, out), "export", out);
        assertContains(err, model.resolve("model.safetensors").toString(), "config.json", "48", "64");
        assertTrue(err.matches(".*tensor 'model\\.layers\\.\\d+\\.mlp\\.(gate|up|down)_proj\\.weight'.*"), err);
    }

    @Test
    void unsupportedArchitecture(@TempDir Path tmp) throws IOException {
        Path model = copyModel(tmp);
        ObjectNode config = readJson(model.resolve("config.json"));
        config.putArray("architectures").add("MistralForCausalLM");
        writeJson(model.resolve("config.json"), config);
        Path out = tmp.resolve("out");
        String err = assertFailsCleanly(export(model, out), "export", out);
        assertContains(err, model.resolve("config.json").toString(), "MistralForCausalLM", "LlamaForCausalLM", "Qwen2ForCausalLM");
    }

    @Test
    void unimplementedRopeScaling(@TempDir Path tmp) throws IOException {
        Path model = copyModel(tmp);
        ObjectNode config = readJson(model.resolve("config.json"));
        config.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4.0);
        writeJson(model.resolve("config.json"), config);
        Path out = tmp.resolve("out");
        String err = assertFailsCleanly(export(model, out), "export", out);
        assertContains(err, model.resolve("config.json").toString(), "rope_scaling", "yarn", "not implemented");
    }

    @Test
    void mergeWithAdapterRankDisagreeingWithItsTensors(@TempDir Path tmp) throws IOException {
        Path model = copyModel(tmp);
        Path adapter = copyAdapter(tmp);
        ObjectNode cfg = readJson(adapter.resolve("adapter_config.json"));
        cfg.put("r", 8); // the tensors have r=4
        writeJson(adapter.resolve("adapter_config.json"), cfg);
        Path out = tmp.resolve("out");
        String err = assertFailsCleanly(merge(model, adapter, out), "merge", out);
        assertContains(err, adapter.resolve("adapter_model.safetensors").toString(),
                "'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'", "[4, 32]", "expected [8, 32]");
    }

    @Test
    void mergeWithAdapterTensorsForALayerBeyondTheModel(@TempDir Path tmp) throws IOException {
        Path model = copyModel(tmp);
        Path adapter = copyAdapter(tmp);
        Path st = adapter.resolve("adapter_model.safetensors");
        Raw raw = Raw.read(st);
        // Layer 2 of a 2-layer model: copy layer 1's q_proj factors under layer 2's names.
        String extra = "base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight";
        ObjectNode e = raw.entry("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight").deepCopy();
        long[] off = raw.offsets("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight");
        byte[] data = java.util.Arrays.copyOf(raw.data(), raw.data().length + (int) (off[1] - off[0]));
        System.arraycopy(raw.data(), (int) off[0], data, raw.data().length, (int) (off[1] - off[0]));
        e.putArray("data_offsets").add(raw.data().length).add(data.length);
        raw.header().set(extra, e);
        new Raw(raw.header(), data).write(st);
        Path out = tmp.resolve("out");
        String err = assertFailsCleanly(merge(model, adapter, out), "merge", out);
        assertContains(err, st.toString(), "unexpected tensor", "'" + extra + "'", "2 layers");
    }

    @Test
    void mergeWithAdapterTargetingAnUnknownModule(@TempDir Path tmp) throws IOException {
        Path model = copyModel(tmp);
        Path adapter = copyAdapter(tmp);
        ObjectNode cfg = readJson(adapter.resolve("adapter_config.json"));
        ((ArrayNode) cfg.get("target_modules")).add("lm_head");
        writeJson(adapter.resolve("adapter_config.json"), cfg);
        Path out = tmp.resolve("out");
        String err = assertFailsCleanly(merge(model, adapter, out), "merge", out);
        assertContains(err, "adapter_config.json", "'lm_head'", "q_proj");
    }

    @Test
    void overlappingTensors(@TempDir Path tmp) throws IOException {
        Path model = copyModel(tmp);
        Path st = model.resolve("model.safetensors");
        Raw raw = Raw.read(st);
        // q_proj and o_proj of layer 0 are both [32, 32] F32: point o_proj at q_proj's bytes.
        long[] q = raw.offsets("model.layers.0.self_attn.q_proj.weight");
        raw.setOffsets("model.layers.0.self_attn.o_proj.weight", q[0], q[1]);
        raw.write(st);
        Path out = tmp.resolve("out");
        String err = assertFailsCleanly(export(model, out), "export", out);
        assertContains(err, st.toString(), "'model.layers.0.self_attn.q_proj.weight'", "'model.layers.0.self_attn.o_proj.weight'",
                "overlap");
    }

    @Test
    void exportIntoAnExistingNonEmptyFolderWithoutOverwrite(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("out");
        Files.createDirectories(out);
        Files.writeString(out.resolve("keep.txt"), "precious");
        Cli.Run r = export(FIXTURE.resolve("model"), out);
        String err = assertOneErrorLine(r, "export");
        assertContains(err, out.toString(), "--overwrite");
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(List.of("keep.txt"), s.map(p -> p.getFileName().toString()).toList());
        }
        assertEquals("precious", Files.readString(out.resolve("keep.txt")));
        assertNoTempSiblings(out);
    }

    @Test
    void mergeIntoAnExistingNonEmptyFolderWithoutOverwrite(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("out");
        Files.createDirectories(out);
        Files.writeString(out.resolve("keep.txt"), "precious");
        Cli.Run r = merge(FIXTURE.resolve("model"), FIXTURE.resolve("adapter"), out);
        String err = assertOneErrorLine(r, "merge");
        assertContains(err, out.toString(), "--overwrite");
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(List.of("keep.txt"), s.map(p -> p.getFileName().toString()).toList());
        }
        assertEquals("precious", Files.readString(out.resolve("keep.txt")));
        assertNoTempSiblings(out);
    }
}
