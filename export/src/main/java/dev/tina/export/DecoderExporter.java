package dev.tina.export;

import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.HfCheckpoint;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.onnx.DecoderGraph;
import dev.tina.export.onnx.ExternalDataWriter;
import dev.tina.export.onnx.GraphBuilder;
import dev.tina.export.onnx.proto.Onnx.GraphProto;
import dev.tina.export.onnx.proto.Onnx.StringStringEntryProto;
import dev.tina.export.quant.BlockQuantizer;
import dev.tina.export.quant.QuantizedWeights;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code tina export}: a Hugging Face checkpoint folder to an exported folder holding
 * {@code model.onnx} (graph), {@code model.onnx.data} (weights, external data),
 * {@code tina-model.json} (descriptor), the source {@code config.json} and the tokenizer files.
 * Weights stream from the memory-mapped safetensors to the data file; the whole folder is written
 * atomically.
 */
public final class DecoderExporter {
    /** The sampling graph (concatenating KV cache, last-position logits only): CUDA and TensorRT sampling. */
    public static final String ONNX_FILE = "model.onnx";
    /** The same graph with logits at every position: parity, scoring, TensorRT's full-logits engine. */
    public static final String FULL_LOGITS_FILE = "model.full-logits.onnx";
    /** The CPU sampling graph: GroupQueryAttention over preallocated caches written in place. */
    public static final String IN_PLACE_FILE = "model.kv-in-place.onnx";
    public static final String DATA_FILE = "model.onnx.data";
    public static final int OPSET = GraphBuilder.OPSET;
    public static final int IR_VERSION = GraphBuilder.IR_VERSION;
    /** Files copied verbatim from the source folder when present. */
    public static final List<String> SIDE_FILES = List.of("config.json", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model",
            "chat_template.jinja", "added_tokens.json");

    /** @param quantize null, or the quantized inference graphs to add beside the full-precision ones */
    public record Options(DType dtype, List<Projection> loraTargets, boolean overwrite, QuantizedWeights.Settings quantize) {
        public Options {
            if (!dtype.isFloating() || dtype == DType.F64) throw new IllegalArgumentException("export dtype must be fp32, fp16 or bf16, got " + dtype);
            loraTargets = List.copyOf(loraTargets);
        }

        public Options(DType dtype, List<Projection> loraTargets, boolean overwrite) { this(dtype, loraTargets, overwrite, null); }

        public static Options defaults() { return new Options(DType.F32, List.of(Projection.values()), false); }
    }

    private DecoderExporter() {}

    public static ModelDescriptor export(Path hfDir, Path outDir, Options options) throws Exception {
        return export(hfDir, outDir, options, bytes -> { });
    }

    /**
     * As {@link #export(Path, Path, Options)}, reporting each weight's byte count to {@code progress}
     * as it is written; the total is {@code ModelConfig.parameterCount() × dtype size}.
     */
    public static ModelDescriptor export(Path hfDir, Path outDir, Options options, java.util.function.LongConsumer progress) throws Exception {
        try (HfCheckpoint ckpt = HfCheckpoint.open(hfDir);
             AtomicOutputDirectory out = new AtomicOutputDirectory(outDir, options.overwrite())) {
            ModelConfig c = ckpt.config();
            if (options.quantize() != null) checkQuantizable(c, options.quantize());
            String fingerprint = fingerprint(hfDir);
            GraphBuilder g;
            try (ExternalDataWriter data = new ExternalDataWriter(out.path().resolve(DATA_FILE))) {
                g = new GraphBuilder("tina_decoder", data);
                DecoderGraph.build(g, ckpt, options.dtype(), options.loraTargets(), progress);
            }
            GraphProto sampling = g.build();
            // The other graphs point at the same weights file: only their small protobufs are extra.
            GraphBuilder full = new GraphBuilder("tina_decoder_full_logits", null);
            DecoderGraph.build(full, c, DecoderGraph.reusing(sampling), options.loraTargets(), DecoderGraph.Variant.fullLogits());
            GraphBuilder inPlace = new GraphBuilder("tina_decoder_kv_in_place", null);
            DecoderGraph.build(inPlace, c, DecoderGraph.reusing(sampling), options.loraTargets(), DecoderGraph.Variant.inPlace());
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("tina.tool_version", ToolVersion.VERSION);
            meta.put("tina.architecture", c.architecture().hfName());
            meta.put("tina.weights_dtype", options.dtype().torchName());
            meta.put("tina.lora_targets", String.join(",", options.loraTargets().stream().map(Projection::moduleName).toList()));
            meta.put("tina.source_fingerprint", fingerprint);
            meta.put("tina.source_config", Files.readString(hfDir.resolve("config.json")));
            writeModel(out.path().resolve(ONNX_FILE), sampling, meta);
            writeModel(out.path().resolve(FULL_LOGITS_FILE), full.build(), meta);
            writeModel(out.path().resolve(IN_PLACE_FILE), inPlace.build(), meta);
            ModelDescriptor.Quantization quantization = null;
            if (options.quantize() != null) quantization = exportQuantized(out.path(), c, sampling, options, meta);
            for (String f : SIDE_FILES) {
                Path src = hfDir.resolve(f);
                if (Files.isRegularFile(src)) Files.copy(src, out.path().resolve(f), StandardCopyOption.COPY_ATTRIBUTES);
            }
            Map<String, int[]> loraDims = new LinkedHashMap<>();
            for (Projection p : options.loraTargets()) loraDims.put(p.moduleName(), new int[]{p.inFeatures(c), p.outFeatures(c)});
            ModelDescriptor d = new ModelDescriptor(ModelDescriptor.FORMAT_VERSION, ToolVersion.VERSION, c.architecture().hfName(),
                    ONNX_FILE, options.dtype().torchName(), "float32", c.numHiddenLayers(), c.numAttentionHeads(),
                    c.numKeyValueHeads(), c.headDim(), c.hiddenSize(), c.vocabSize(), c.bosTokenIds(), c.eosTokenIds(),
                    options.loraTargets().stream().map(Projection::moduleName).toList(), loraDims,
                    Map.of("path", hfDir.toAbsolutePath().normalize().toString(), "fingerprint", fingerprint), quantization);
            d.write(out.path());
            out.commit();
            return d;
        }
    }

    /** Quantized graph file names: {@code model.int4.onnx}, {@code model.int4.full-logits.onnx}, … */
    public static String quantizedFile(String file, QuantizedWeights.Settings q) {
        return file.replaceFirst("^model\\.", "model." + q.scheme().cli() + ".");
    }

    /** Every projection's in-features (and the head's, when quantized) must be a multiple of the block size: one line naming the first that is not. */
    static void checkQuantizable(ModelConfig c, QuantizedWeights.Settings q) {
        if (!q.scheme().blockWise()) return; // per-channel scales: any shape
        for (Projection p : Projection.values()) {
            String bad = BlockQuantizer.check(p.moduleName(), p.outFeatures(c), p.inFeatures(c), q.blockSize());
            if (bad != null) throw new IllegalArgumentException("--quantize " + q.scheme().cli() + ": " + bad);
        }
        if (q.head()) {
            String bad = BlockQuantizer.check("lm_head", c.vocabSize(), c.hiddenSize(), q.blockSize());
            if (bad != null) throw new IllegalArgumentException("--quantize-head: " + bad);
        }
    }

    /** The three inference graphs again over quantized projections, sharing one quantized data file. */
    private static ModelDescriptor.Quantization exportQuantized(Path dir, ModelConfig c, GraphProto sampling, Options options,
                                                               Map<String, String> meta) throws Exception {
        QuantizedWeights.Settings q = options.quantize();
        Map<String, String> qMeta = new LinkedHashMap<>(meta);
        qMeta.put("tina.quantization", q.describe());
        long bytes;
        try (QuantizedWeights weights = new QuantizedWeights(q, dir, sampling)) {
            GraphBuilder qs = new GraphBuilder("tina_decoder_" + q.scheme().cli(), null);
            DecoderGraph.buildQuantized(qs, c, DecoderGraph.reusing(sampling), options.loraTargets(), DecoderGraph.Variant.inference(), weights);
            GraphBuilder qf = new GraphBuilder("tina_decoder_full_logits_" + q.scheme().cli(), null);
            DecoderGraph.buildQuantized(qf, c, DecoderGraph.reusing(sampling), options.loraTargets(), DecoderGraph.Variant.fullLogits(), weights);
            GraphBuilder qi = new GraphBuilder("tina_decoder_kv_in_place_" + q.scheme().cli(), null);
            DecoderGraph.buildQuantized(qi, c, DecoderGraph.reusing(sampling), options.loraTargets(), DecoderGraph.Variant.inPlace(), weights);
            writeModel(dir.resolve(quantizedFile(ONNX_FILE, q)), qs.build(), qMeta);
            writeModel(dir.resolve(quantizedFile(FULL_LOGITS_FILE, q)), qf.build(), qMeta);
            writeModel(dir.resolve(quantizedFile(IN_PLACE_FILE, q)), qi.build(), qMeta);
            bytes = weights.quantizedBytes();
        }
        return new ModelDescriptor.Quantization(q.scheme().cli(), q.blockSize(), q.head(), q.accuracyLevel(), quantizedFile(ONNX_FILE, q),
                quantizedFile(FULL_LOGITS_FILE, q), quantizedFile(IN_PLACE_FILE, q), q.dataFile(), bytes);
    }

    private static void writeModel(Path file, GraphProto graph, Map<String, String> meta) throws IOException {
        var model = GraphBuilder.model(graph);
        meta.forEach((k, v) -> model.addMetadataProps(StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
        try (OutputStream os = Files.newOutputStream(file)) {
            model.build().writeTo(os);
        }
    }

    /**
     * SHA-256 over the side files an export copies (tokenizer, chat template, generation
     * defaults), each present one by name and content: part of the export cache's key, so that
     * adding or fixing a tokenizer file after a first export makes a new export instead of
     * silently keeping the stale copy. Kept out of {@link #fingerprint} (the weights' identity).
     */
    public static String sideFilesFingerprint(Path hfDir) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String f : SIDE_FILES) {
                Path p = hfDir.resolve(f);
                if (!Files.isRegularFile(p)) continue;
                md.update(f.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                md.update((byte) 0);
                md.update(Long.toString(Files.size(p)).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                md.update((byte) 0);
                md.update(Files.readAllBytes(p));
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A content fingerprint of a checkpoint folder: SHA-256 over config.json and, for each weight
     * file, its name, size, safetensors header and a CRC32C of its bytes. The CRC is what tells
     * apart two checkpoints of one shape (a model before and after training): without it an
     * export cache would hand back the other one's graph. CRC32C runs at memory speed (hardware
     * instruction), so a 1.5B checkpoint costs seconds, not a re-export.
     */
    private static long crc32c(Path f) throws IOException {
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.READ)) {
            long size = ch.size();
            for (long pos = 0; pos < size; pos += 1 << 30) {
                crc.update(ch.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, pos, Math.min(1L << 30, size - pos)));
            }
        }
        return crc.getValue();
    }

    public static String fingerprint(Path hfDir) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(Files.readAllBytes(hfDir.resolve("config.json")));
            for (Path f : HfCheckpoint.weightFiles(hfDir)) {
                md.update(f.getFileName().toString().getBytes());
                md.update(Long.toString(Files.size(f)).getBytes());
                try (var ch = Files.newByteChannel(f)) {
                    var len = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                    ch.read(len);
                    long n = len.flip().remaining() == 8 ? len.getLong() : 0;
                    var head = java.nio.ByteBuffer.allocate((int) Math.max(0, Math.min(n, Math.min(100L << 20, Files.size(f) - 8))));
                    ch.read(head);
                    md.update(head.flip());
                }
                md.update(Long.toHexString(crc32c(f)).getBytes());
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
