package dev.tina.runtime.sampling;

import dev.tina.testsupport.Shared;

import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.DecoderOutput;
import dev.tina.runtime.KvCache;
import dev.tina.runtime.OrtDecoder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The in-place cache (GroupQueryAttention over preallocated slots) gives the logits of a full
 * forward pass over the whole sequence at every step: rows of different lengths, rows moved
 * between slots mid-way (compaction), the reference batch left- or right-padded, with and without
 * an adapter (the GQA fixture model: 4 heads over 2 KV heads, q/k/v bias, LoRA on all projections).
 */
class InPlaceCacheTest {
    static final Path FIXTURE = Shared.path("fixtures/qwen2-small");
    @TempDir static Path tmp;
    static OrtDecoder decoder;
    static AdapterBinding none, lora;

    @BeforeAll
    static void setUp() throws Exception {
        Path export = tmp.resolve("qwen2-small");
        DecoderExporter.export(FIXTURE.resolve("model"), export, DecoderExporter.Options.defaults());
        decoder = OrtDecoder.open(export);
        none = AdapterBinding.none(decoder.environment(), decoder.descriptor());
        ModelConfig c = ModelConfig.read(FIXTURE.resolve("model/config.json"));
        lora = AdapterBinding.of(decoder.environment(), decoder.descriptor(), PeftAdapter.read(FIXTURE.resolve("adapter"), c));
    }

    @AfterAll
    static void tearDown() throws Exception {
        lora.close();
        none.close();
        decoder.close();
    }

    /** Full-forward logits [rows][position][vocab] of the sequences in one padded batch. */
    static float[][][] reference(List<long[]> seqs, boolean leftPad, AdapterBinding adapter) throws Exception {
        int width = seqs.stream().mapToInt(s -> s.length).max().orElseThrow(), vocab = decoder.descriptor().vocabSize();
        long[][] ids = new long[seqs.size()][width], mask = new long[seqs.size()][width], pos = new long[seqs.size()][width];
        for (int r = 0; r < seqs.size(); r++) {
            long[] s = seqs.get(r);
            int off = leftPad ? width - s.length : 0;
            for (int t = 0; t < s.length; t++) {
                ids[r][off + t] = s[t];
                mask[r][off + t] = 1;
                pos[r][off + t] = t;
            }
        }
        float[][][] out = new float[seqs.size()][][];
        try (KvCache empty = KvCache.empty(decoder.environment(), decoder.descriptor(), seqs.size());
             DecoderOutput o = decoder.forward(ids, mask, pos, empty, adapter)) {
            FloatBuffer fb = o.logits();
            for (int r = 0; r < seqs.size(); r++) {
                int off = leftPad ? width - seqs.get(r).length : 0;
                out[r] = new float[seqs.get(r).length][vocab];
                for (int t = 0; t < seqs.get(r).length; t++) fb.get(((r * width) + off + t) * vocab, out[r][t]);
            }
        }
        return out;
    }

    static void assertClose(float[] want, float[] got, int gotOffset, String what) {
        double worst = 0;
        for (int v = 0; v < want.length; v++) worst = Math.max(worst, Math.abs(want[v] - got[gotOffset + v]));
        assertTrue(worst < 1e-4, what + ": max |Δ| " + worst);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void everyStepEqualsAFullForwardWithRaggedRowsAndCompaction(boolean withAdapter) throws Exception {
        AdapterBinding adapter = withAdapter ? lora : none;
        int vocab = decoder.descriptor().vocabSize(), steps = 9;
        SplittableRandom rng = new SplittableRandom(5);
        int[] promptLengths = {1, 6, 11};
        List<long[]> seqs = new ArrayList<>();
        for (int len : promptLengths) {
            long[] s = new long[len + steps];
            for (int t = 0; t < s.length; t++) s[t] = rng.nextInt(vocab);
            seqs.add(s);
        }
        float[][][] left = reference(seqs, true, adapter), right = reference(seqs, false, adapter);
        InPlaceBackend engine = new InPlaceBackend(decoder);
        try (SlotBackend.Slots slots = engine.open(3, 11 + steps)) {
            // slot r holds row slotRow[r]
            int[] slotRow = {0, 1, 2};
            for (int r = 0; r < 3; r++) {
                float[] logits = slots.prefill(r, Arrays.copyOf(seqs.get(r), promptLengths[r]), adapter);
                assertClose(left[r][promptLengths[r] - 1], logits, 0, "prefill of row " + r + " vs left-padded batch");
                assertClose(right[r][promptLengths[r] - 1], logits, 0, "prefill of row " + r + " vs right-padded batch");
            }
            int active = 3;
            for (int step = 0; step < steps; step++) {
                if (step == 4) {
                    // row 0 leaves: the last slot's row moves into its place (cache positions copied)
                    slots.copy(2, 0, promptLengths[slotRow[2]] + step);
                    slotRow = new int[]{slotRow[2], slotRow[1]};
                    active = 2;
                }
                long[] ids = new long[active];
                int[] cached = new int[active];
                for (int r = 0; r < active; r++) {
                    int row = slotRow[r];
                    cached[r] = promptLengths[row] + step;
                    ids[r] = seqs.get(row)[cached[r]];
                }
                float[] logits = slots.step(active, ids, cached, adapter);
                for (int r = 0; r < active; r++) {
                    int row = slotRow[r], at = promptLengths[row] + step;
                    assertClose(left[row][at], logits, r * vocab, "step " + step + ", row " + row + " in slot " + r + " (left-padded reference)");
                    assertClose(right[row][at], logits, r * vocab, "step " + step + ", row " + row + " in slot " + r + " (right-padded reference)");
                }
            }
        }
    }

    /**
     * Prompts prefilled together (one right-padded run) give the logits of each prompt prefilled
     * alone, and so does every decode step after it: a request's numbers do not depend on the
     * prompts it was admitted with. (Bit for bit here, except a one-token prompt with an adapter:
     * alone, its LoRA product is ONNX Runtime's one-row GEMM, ~2e-6 apart; the decode steps already
     * mix one-row and many-row products the same way.)
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void promptsPrefilledTogetherEqualEachAlone(boolean withAdapter) throws Exception {
        AdapterBinding adapter = withAdapter ? lora : none;
        int vocab = decoder.descriptor().vocabSize(), steps = 5;
        int[] lengths = {6, 1, 11, 3};
        SplittableRandom rng = new SplittableRandom(9);
        List<long[]> prompts = new ArrayList<>();
        for (int len : lengths) {
            long[] p = new long[len];
            for (int t = 0; t < len; t++) p[t] = rng.nextInt(vocab);
            prompts.add(p);
        }
        InPlaceBackend engine = new InPlaceBackend(decoder);
        // slot 0 stays empty: the prompts go to slots [1, 5)
        try (SlotBackend.Slots alone = engine.open(5, 11 + steps); SlotBackend.Slots together = engine.open(5, 11 + steps)) {
            float[][] want = new float[lengths.length][];
            for (int j = 0; j < lengths.length; j++) want[j] = alone.prefill(1 + j, prompts.get(j), adapter).clone();
            MemorySegment got = together.prefillLogits(1, prompts, adapter);
            for (int j = 0; j < lengths.length; j++) {
                float[] row = got.asSlice((long) j * vocab * Float.BYTES, (long) vocab * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
                assertClose(want[j], row, 0, "prompt " + j + " (" + lengths[j] + " tokens)");
            }
            // then decode the same tokens in both: the cache each prefill left is the same too
            for (int step = 0; step < steps; step++) {
                long[] ids = new long[5];
                int[] cached = new int[5];
                ids[0] = 1;
                cached[0] = 1;
                for (int j = 0; j < lengths.length; j++) {
                    ids[1 + j] = rng.nextInt(vocab);
                    cached[1 + j] = lengths[j] + step;
                }
                // slot 0 holds one arbitrary token in both
                if (step == 0) {
                    alone.prefill(0, new long[]{3}, adapter);
                    together.prefill(0, new long[]{3}, adapter);
                }
                float[] a = alone.step(5, ids, cached, adapter).clone(), b = together.step(5, ids, cached, adapter);
                for (int r = 0; r < 5; r++) assertClose(Arrays.copyOfRange(a, r * vocab, (r + 1) * vocab), b, r * vocab, "decode step " + step + ", slot " + r);
            }
        }
    }

    @Test
    void badSlotUseIsAClearError() throws Exception {
        try (SlotBackend.Slots slots = new InPlaceBackend(decoder).open(2, 8)) {
            assertThrows(IllegalArgumentException.class, () -> slots.prefill(2, new long[]{1}, none));
            assertThrows(IllegalArgumentException.class, () -> slots.prefill(0, new long[9], none));
            var e = assertThrows(IllegalArgumentException.class, () -> slots.step(1, new long[]{1}, new int[]{8}, none));
            assertTrue(e.getMessage().contains("8"), e.getMessage());
        }
        try (SlotBackend.Slots s = new InPlaceBackend(decoder).open(3, 4)) {
            assertEquals(3, s.capacity());
        }
    }
}
