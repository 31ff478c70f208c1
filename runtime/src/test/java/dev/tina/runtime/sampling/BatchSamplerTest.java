package dev.tina.runtime.sampling;

import dev.tina.testsupport.Shared;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tina.export.DecoderExporter;
import dev.tina.export.checkpoint.DType;
import dev.tina.export.checkpoint.Projection;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.DecoderOutput;
import dev.tina.runtime.KvCache;
import dev.tina.runtime.OrtDecoder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The batched sampler on real weights (stories15M, with llama2.c's greedy output as oracle). */
class BatchSamplerTest {
    static final Path SHARED = Shared.ROOT;
    static final Path MODEL = SHARED.resolve("models/stories15M");
    @TempDir static Path tmp;
    static OrtDecoder decoder;
    static AdapterBinding none;
    static BatchSampler sampler;
    static List<long[]> prompts = new ArrayList<>(), expected = new ArrayList<>();

    @BeforeAll
    static void setUp() throws Exception {
        Path export = tmp.resolve("stories15M");
        DecoderExporter.export(MODEL, export, new DecoderExporter.Options(DType.F32, List.of(Projection.Q_PROJ, Projection.V_PROJ), false));
        decoder = OrtDecoder.open(export);
        none = AdapterBinding.none(decoder.environment(), decoder.descriptor());
        sampler = new BatchSampler(decoder, null, 64);
        for (JsonNode c : new ObjectMapper().readTree(MODEL.resolve("expected.json").toFile()).get("cases")) {
            prompts.add(longs(c.get("input_ids")));
            expected.add(longs(c.get("generated_ids")));
        }
    }

    @AfterAll
    static void tearDown() throws Exception {
        sampler.close();
        none.close();
        decoder.close();
    }

    static long[] longs(JsonNode a) {
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asLong();
        return out;
    }

    @Test
    void greedyBatchOfMixedLengthPromptsReproducesLlama2cForEveryRow() throws Exception {
        // The three prompts (1, 5 and more ids) in one left-padded batch, each row against the oracle.
        List<Completion> all = sampler.generate(prompts, SamplingParams.greedy(200), none);
        for (int i = 0; i < prompts.size(); i++) {
            assertArrayEquals(expected.get(i), all.get(i).tokenIds(), "prompt " + i + " in a mixed batch");
            assertEquals(FinishReason.LENGTH, all.get(i).finishReason());
        }
        // and alone
        for (int i = 0; i < prompts.size(); i++) {
            Completion alone = sampler.generate(List.of(prompts.get(i)), SamplingParams.greedy(200), none).getFirst();
            assertArrayEquals(expected.get(i), alone.tokenIds(), "prompt " + i + " alone");
        }
    }

    @Test
    void vectorAndScalarPassesGiveTheSameCompletions() throws Exception {
        assertEquals(TokenSampler.Passes.VECTOR, new TokenSampler().passes());
        try (BatchSampler scalar = new BatchSampler(decoder, null, 64).samplingPasses(TokenSampler.Passes.SCALAR)) {
            for (SamplingParams p : List.of(new SamplingParams(3, 0.7, 1.0, 0, 0.0, 40, List.of(), Set.of(), 77),
                    new SamplingParams(2, 1.0, 0.9, 20, 0.0, 40, List.of(), Set.of(), 5), SamplingParams.greedy(40))) {
                List<Completion> v = sampler.generate(prompts, p, none), s = scalar.generate(prompts, p, none);
                for (int i = 0; i < v.size(); i++) {
                    assertArrayEquals(s.get(i).tokenIds(), v.get(i).tokenIds(), p + ", completion " + i);
                    assertArrayEquals(s.get(i).logprobs(), v.get(i).logprobs(), 1e-5f, p + ", completion " + i);
                }
            }
        }
    }

    @Test
    void seededSamplingIsReproducibleAndIndependentOfTheBatch() throws Exception {
        SamplingParams p = new SamplingParams(4, 0.9, 0.95, 40, 0.0, 48, List.of(), Set.of(), 1234);
        List<Completion> a = sampler.generate(prompts, p, none);
        List<Completion> b = sampler.generate(prompts, p, none);
        for (int i = 0; i < a.size(); i++) assertArrayEquals(a.get(i).tokenIds(), b.get(i).tokenIds(), "completion " + i);
        // samples of one prompt differ from each other
        assertNotEquals(Arrays.toString(a.get(4).tokenIds()), Arrays.toString(a.get(5).tokenIds()));
        // prompt 1 alone: its samples are the same as in the batch (its stream is (seed, prompt, sample))
        List<long[]> shifted = new ArrayList<>(List.of(prompts.get(0), prompts.get(1)));
        List<Completion> c = new BatchSampler(decoder, null, 3).generate(shifted, p, none); // other wave sizes too
        for (int s = 0; s < 4; s++) assertArrayEquals(a.get(4 + s).tokenIds(), c.get(4 + s).tokenIds(), "sample " + s);
        // another seed changes the output
        List<Completion> d = sampler.generate(prompts, p.withSeed(99), none);
        assertNotEquals(Arrays.toString(a.get(0).tokenIds()), Arrays.toString(d.get(0).tokenIds()));
    }

    @Test
    void returnedLogprobsEqualAFreshForwardOverTheFinishedSequence() throws Exception {
        SamplingParams p = new SamplingParams(2, 1.0, 1.0, 0, 0.0, 30, List.of(), Set.of(), 7);
        List<Completion> out = sampler.generate(prompts.subList(1, 3), p, none);
        int vocab = decoder.descriptor().vocabSize();
        for (Completion c : out) {
            long[] prompt = prompts.get(1 + c.promptIndex());
            long[] seq = new long[prompt.length + c.tokenIds().length];
            System.arraycopy(prompt, 0, seq, 0, prompt.length);
            System.arraycopy(c.tokenIds(), 0, seq, prompt.length, c.tokenIds().length);
            long[] mask = new long[seq.length], pos = new long[seq.length];
            Arrays.fill(mask, 1);
            for (int i = 0; i < pos.length; i++) pos[i] = i;
            try (KvCache empty = KvCache.empty(decoder.environment(), decoder.descriptor(), 1);
                 DecoderOutput o = decoder.forward(new long[][]{seq}, new long[][]{mask}, new long[][]{pos}, empty, none)) {
                FloatBuffer fb = o.logits();
                float[] logits = new float[fb.remaining()];
                fb.get(logits);
                for (int t = 0; t < c.tokenIds().length; t++) {
                    int at = (prompt.length - 1 + t) * vocab;
                    float want = TokenSampler.logprob(logits, at, vocab, (int) c.tokenIds()[t]);
                    assertEquals(want, c.logprobs()[t], 2e-4, "token " + t + " of completion " + c);
                }
            }
        }
    }

    @Test
    void stopTokensEndCompletionsEarlyAndFinishedRowsLeaveTheBatch() throws Exception {
        // 13 is the newline id; greedy stories reach it within 200 tokens
        SamplingParams p = new SamplingParams(1, 0, 1, 0, 0, 200, List.of(), Set.of(13L), 0);
        List<Completion> out = sampler.generate(prompts, p, none);
        for (int i = 0; i < prompts.size(); i++) {
            Completion c = out.get(i);
            int firstNewline = -1;
            for (int t = 0; t < expected.get(i).length && firstNewline < 0; t++) if (expected.get(i)[t] == 13) firstNewline = t;
            assertTrue(firstNewline >= 0);
            assertEquals(FinishReason.STOP, c.finishReason());
            assertArrayEquals(Arrays.copyOf(expected.get(i), firstNewline + 1), c.tokenIds(), "prompt " + i);
        }
    }

    @Test
    void continuousBatchingReturnsEveryRequestOnceWhateverTheSlotsOrScheduling() throws Exception {
        // stop at "." (29889) so that lengths differ and rows leave and join mid-run
        SamplingParams p = new SamplingParams(3, 0.9, 0.95, 0, 0.0, 40, List.of(), Set.of(29889L), 99);
        List<Completion> wide = sampler.generate(prompts, p, none);
        java.util.Map<String, Integer> seen = new java.util.HashMap<>();
        List<Completion> narrow;
        try (BatchSampler two = new BatchSampler(decoder, null, 2)) {
            narrow = two.generate(prompts, p, none, c -> seen.merge(c.promptIndex() + "/" + c.sampleIndex(), 1, Integer::sum));
        }
        assertEquals(prompts.size() * 3, seen.size());
        assertTrue(seen.values().stream().allMatch(v -> v == 1), "each request reported once: " + seen);
        List<Completion> waves;
        try (BatchSampler five = new BatchSampler(decoder, null, 5).scheduling(BatchSampler.Scheduling.WAVES)) {
            waves = five.generate(prompts, p, none);
        }
        boolean someStopped = false;
        for (int i = 0; i < wide.size(); i++) {
            assertEquals(wide.get(i).promptIndex() * 3 + wide.get(i).sampleIndex(), i);
            assertArrayEquals(wide.get(i).tokenIds(), narrow.get(i).tokenIds(), "request " + i + ": 64 rows vs 2 slots");
            assertArrayEquals(wide.get(i).tokenIds(), waves.get(i).tokenIds(), "request " + i + ": continuous vs waves of 5");
            assertArrayEquals(wide.get(i).logprobs(), narrow.get(i).logprobs(), 1e-5f, "request " + i);
            someStopped |= wide.get(i).finishReason() == FinishReason.STOP;
        }
        assertTrue(someStopped, "the stop token should end some completions early");
    }

    @Test
    void aFeedIsPulledOnlyAsSlotsFreeUpAndItsRequestsDrawTheirOwnStreams() throws Exception {
        SamplingParams p = new SamplingParams(3, 0.9, 0.95, 0, 0.0, 40, List.of(), Set.of(29889L), 99);
        List<Completion> list = sampler.generate(prompts, p, none);
        // 30 requests naming prompt indices 0..29, one or two samples each, over prompts cycled: far more than 4 slots
        List<BatchSampler.Request> requests = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            int[] samples = i % 2 == 0 ? new int[]{2} : new int[]{0, 1};
            requests.add(new BatchSampler.Request(i, prompts.get(i % prompts.size()), samples));
        }
        int[] pulled = {0}, pulledAtFirstDone = {-1};
        Iterator<BatchSampler.Request> source = requests.iterator();
        Iterator<BatchSampler.Request> counting = new Iterator<>() {
            @Override public boolean hasNext() { return source.hasNext(); }

            @Override public BatchSampler.Request next() {
                pulled[0]++;
                return source.next();
            }
        };
        Map<String, Completion> got = new HashMap<>();
        int longest = prompts.stream().mapToInt(x -> x.length).max().orElseThrow();
        try (BatchSampler four = new BatchSampler(decoder, null, 4)) {
            four.generate(new BatchSampler.Feed(counting, longest, 45), p, none, c -> {
                if (pulledAtFirstDone[0] < 0) pulledAtFirstDone[0] = pulled[0];
                assertNull(got.put(c.promptIndex() + "/" + c.sampleIndex(), c), "reported twice: " + c);
            });
        }
        assertEquals(45, got.size());
        assertTrue(pulledAtFirstDone[0] <= 4, "at most the 4 slots' requests taken before a row finished: " + pulledAtFirstDone[0]);
        // prompt index i seeds the streams: request i with prompt i % 3 equals prompt i of a call with the same seed
        for (int i = 0; i < prompts.size(); i++) {
            for (int s = 0; s < 3; s++) {
                Completion c = got.get(i + "/" + s);
                if (c != null) assertArrayEquals(list.get(i * 3 + s).tokenIds(), c.tokenIds(), "request " + i + " sample " + s);
            }
        }
        for (BatchSampler.Request r : requests) {
            for (int s : r.samples()) {
                List<Completion> alone = sampler.generate(List.of(r.ids()), p.withN(s + 1).withSeed(shifted(p.seed(), r.prompt())), none);
                assertArrayEquals(alone.get(s).tokenIds(), got.get(r.prompt() + "/" + s).tokenIds(), "request " + r.prompt() + " sample " + s);
            }
        }
    }

    @Test
    void theWaveEngineRunsListsAndFeedsAsTheSlotEngineDoes() throws Exception {
        SamplingParams p = new SamplingParams(3, 0.9, 0.95, 0, 0.0, 40, List.of(), Set.of(29889L), 99);
        // 4 rows: waves of requests 0 and 5 (3 rows), then 7 alone (3 + 3 > 4), then 9
        List<BatchSampler.Request> requests = List.of(new BatchSampler.Request(0, prompts.get(0), new int[]{1}),
                new BatchSampler.Request(5, prompts.get(1), new int[]{0, 2}), new BatchSampler.Request(7, prompts.get(2), new int[]{0, 1, 2}),
                new BatchSampler.Request(9, prompts.get(0), new int[]{2}));
        int longest = prompts.stream().mapToInt(x -> x.length).max().orElseThrow();
        Map<String, long[]> slots = new ConcurrentHashMap<>(), waves = new ConcurrentHashMap<>();
        sampler.generate(new BatchSampler.Feed(requests.iterator(), longest, 7), p, none, c -> slots.put(c.promptIndex() + "/" + c.sampleIndex(), c.tokenIds()));
        try (BatchSampler concat = BatchSampler.owning(new OrtBackend(decoder, "onnxruntime"), null, 4)) {
            concat.generate(new BatchSampler.Feed(requests.iterator(), longest, 7), p, none, c -> waves.put(c.promptIndex() + "/" + c.sampleIndex(), c.tokenIds()));
            List<Completion> greedy = concat.generate(prompts, SamplingParams.greedy(200), none);
            for (int i = 0; i < prompts.size(); i++) assertArrayEquals(expected.get(i), greedy.get(i).tokenIds(), "prompt " + i + " in waves");
        }
        assertEquals(7, slots.size());
        assertEquals(slots.keySet(), waves.keySet());
        for (String k : slots.keySet()) assertArrayEquals(slots.get(k), waves.get(k), k);
    }

    /** The seed under which prompt 0 draws prompt {@code first}'s streams (as the eval's wave path shifts it). */
    static long shifted(long seed, int first) {
        long a = 0x9E3779B97F4A7C15L, inv = a;
        for (int i = 0; i < 6; i++) inv *= 2 - a * inv;
        return seed + (long) first * 0xC2B2AE3D27D4EB4FL * inv;
    }

    @Test
    void requestsPastTheContextAreRefusedBeforeAnyWork() throws Exception {
        int[] done = {0};
        BatchSampler limited = new BatchSampler(decoder, null, 8).maxPositions(256); // stories15M's context
        var e = assertThrows(IllegalArgumentException.class, () -> limited.generate(List.of(new long[]{1, 2}, new long[250]),
                SamplingParams.greedy(10), none, c -> done[0]++));
        assertTrue(e.getMessage().contains("prompt 1") && e.getMessage().contains("256"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> limited.generate(List.of(new long[]{1}, new long[0]),
                SamplingParams.greedy(10), none, c -> done[0]++));
        assertTrue(e.getMessage().contains("prompt 1 is empty"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> limited.generate(List.of(new long[]{1}), SamplingParams.greedy(300), none,
                c -> done[0]++));
        assertTrue(e.getMessage().contains("prompt 0") && e.getMessage().contains("max_new_tokens 300"), e.getMessage());
        assertEquals(0, done[0], "nothing reported for a refused call");
    }

    @Test
    void badRequestsAreClearErrors() {
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(0, 1, 1, 0, 0, 10, List.of(), Set.of(), 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1, -0.5, 1, 0, 0, 10, List.of(), Set.of(), 0));
        var e = assertThrows(IllegalArgumentException.class,
                () -> sampler.generate(List.<long[]>of(new long[]{1, 40000}), SamplingParams.greedy(5), none));
        assertTrue(e.getMessage().contains("40000"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> sampler.generate(List.of(new long[]{1}),
                new SamplingParams(1, 0, 1, 0, 0, 5, List.of("The"), Set.of(), 0), none)); // stop strings need a tokenizer
    }
}
