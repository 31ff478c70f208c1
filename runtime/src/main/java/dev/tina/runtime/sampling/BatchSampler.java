package dev.tina.runtime.sampling;

import ai.onnxruntime.OrtException;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.OrtDecoder;
import dev.tina.runtime.SessionSettings;
import dev.tina.runtime.text.HfTokenizer;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * Batched generation: many prompts × n samples each, or a {@link Feed} of requests pulled as rows
 * free up, at most {@code maxRows} rows at a time. On a
 * {@link SlotBackend} (the CPU's in-place cache) requests are batched continuously: see
 * {@code SlotScheduler}. On a {@link DecoderBackend} (CUDA, TensorRT) prompts go in waves: each
 * wave prefills its prompts once (left-padded, last-position logits only), fans each prompt's KV
 * cache out to its n samples inside the engine, then decodes all rows together one token per
 * step; finished rows are dropped from the batch (their cache rows gathered away) once they make
 * up an eighth of it, so they stop costing compute.
 *
 * <p>Every sample draws from its own random stream, derived from (seed, prompt index, sample
 * index), so a request gets the same completion whatever else shares its batch (given equal
 * logits, which ONNX Runtime's CPU kernels produce for a row regardless of its neighbours in the
 * cases tested).
 */
public final class BatchSampler implements AutoCloseable {
    private final Engine backend;
    /** Whether closing this sampler closes the backend (true for the ONNX Runtime one it makes itself). */
    private final boolean ownsBackend;
    private final HfTokenizer tokenizer;
    private final Set<Long> eosIds;
    private final int maxRows;
    private int maxPositions = Integer.MAX_VALUE;
    private Scheduling scheduling = Scheduling.CONTINUOUS;

    /** How a slot engine ({@link SlotBackend}) fills its rows. */
    public enum Scheduling {
        /** A finished row's slot is taken at once by the next waiting request. */
        CONTINUOUS,
        /** Waves: new requests start only when every row of the previous wave has finished (the baseline). */
        WAVES
    }
    /** Rows are sampled in parallel; each worker thread keeps its own scratch arrays. */
    private ThreadLocal<TokenSampler> samplers = ThreadLocal.withInitial(TokenSampler::new);
    private Stats stats = new Stats();

    /** Where the time of the last {@code generate} call went, in nanoseconds. */
    public static final class Stats {
        public long prefillNanos, decodeNanos, samplingNanos, gatherNanos, decodeSteps, tokens, rowSteps;

        public double seconds() { return (prefillNanos + decodeNanos + samplingNanos + gatherNanos) / 1e9; }

        /** Adds {@code o}'s counts to these (a total over several calls). */
        public void add(Stats o) {
            prefillNanos += o.prefillNanos;
            decodeNanos += o.decodeNanos;
            samplingNanos += o.samplingNanos;
            gatherNanos += o.gatherNanos;
            decodeSteps += o.decodeSteps;
            tokens += o.tokens;
            rowSteps += o.rowSteps;
        }
    }

    public Stats lastStats() { return stats; }

    /**
     * A sampler over the decoder's session: on the CPU the in-place cache with continuous
     * batching ({@link InPlaceBackend}); on CUDA the concatenating cache ({@link OrtBackend}: ONNX
     * Runtime's GroupQueryAttention has no float32 CUDA kernel).
     *
     * @param tokenizer may be null (no text, no stop strings)
     */
    public BatchSampler(OrtDecoder decoder, HfTokenizer tokenizer, int maxRows) throws OrtException {
        this(decoder.settings().device() == SessionSettings.Device.CPU ? new InPlaceBackend(decoder)
                : new OrtBackend(decoder, "onnxruntime"), true, tokenizer, maxRows);
    }

    /**
     * A sampler over any engine (ONNX Runtime, TensorRT); the caller keeps ownership of
     * {@code backend} and closes it after this sampler.
     */
    public BatchSampler(Engine backend, HfTokenizer tokenizer, int maxRows) {
        this(backend, false, tokenizer, maxRows);
    }

    /** Prompt + new tokens must fit in this many positions (the model's context); checked before any work. */
    public BatchSampler maxPositions(int positions) {
        if (positions < 2) throw new IllegalArgumentException("maxPositions must be >= 2, got " + positions);
        this.maxPositions = positions;
        return this;
    }

    /** As {@link #BatchSampler(Engine, HfTokenizer, int)}, but closing the sampler closes {@code backend}. */
    public static BatchSampler owning(Engine backend, HfTokenizer tokenizer, int maxRows) {
        return new BatchSampler(backend, true, tokenizer, maxRows);
    }

    /** Which passes sample the rows (default {@link TokenSampler#defaultPasses()}); the scalar ones are the benchmarks' baseline. */
    public BatchSampler samplingPasses(TokenSampler.Passes passes) {
        Objects.requireNonNull(passes);
        samplers = ThreadLocal.withInitial(() -> new TokenSampler(passes));
        return this;
    }

    /** How a slot engine schedules requests (default continuous); other engines always run waves. */
    public BatchSampler scheduling(Scheduling s) {
        this.scheduling = java.util.Objects.requireNonNull(s);
        return this;
    }

    private BatchSampler(Engine backend, boolean owns, HfTokenizer tokenizer, int maxRows) {
        if (maxRows < 1) throw new IllegalArgumentException("maxRows must be >= 1");
        this.backend = backend;
        this.ownsBackend = owns;
        this.tokenizer = tokenizer;
        this.maxRows = maxRows;
        this.eosIds = Set.copyOf(backend.descriptor().eosTokenIds());
    }

    /** The engine this sampler decodes with. */
    public Engine backend() { return backend; }

    public List<Completion> generate(List<long[]> prompts, SamplingParams p, AdapterBinding adapter) throws OrtException {
        return generate(prompts, p, adapter, c -> { });
    }

    /** Completions ordered by (prompt, sample); {@code onDone} sees each as it finishes. */
    public List<Completion> generate(List<long[]> prompts, SamplingParams p, AdapterBinding adapter,
                                     Consumer<Completion> onDone) throws OrtException {
        checkStopStrings(p);
        int longest = 0;
        for (int i = 0; i < prompts.size(); i++) {
            check(i, prompts.get(i), p, Integer.MAX_VALUE);
            longest = Math.max(longest, prompts.get(i).length);
        }
        Completion[] out = new Completion[prompts.size() * p.n()];
        Iterator<Request> requests = IntStream.range(0, prompts.size()).mapToObj(i -> Request.all(i, prompts.get(i), p.n())).iterator();
        run(new Feed(requests, longest, (long) prompts.size() * p.n()), p, adapter, c -> {
            out[c.promptIndex() * p.n() + c.sampleIndex()] = c;
            onDone.accept(c);
        });
        return Arrays.asList(out);
    }

    /**
     * Some samples of one prompt: {@code prompt} is the index that seeds their streams (seed,
     * prompt, sample) and that their completions carry; {@code samples} are the sample indices.
     */
    public record Request(int prompt, long[] ids, int[] samples) {
        public Request {
            if (prompt < 0) throw new IllegalArgumentException("prompt index must be >= 0, got " + prompt);
            if (samples.length == 0) throw new IllegalArgumentException("prompt " + prompt + ": no samples requested");
            for (int s : samples) if (s < 0) throw new IllegalArgumentException("prompt " + prompt + ": sample index " + s + " < 0");
        }

        /** Samples 0 … n-1. */
        public static Request all(int prompt, long[] ids, int n) { return new Request(prompt, ids, IntStream.range(0, n).toArray()); }
    }

    /**
     * Requests pulled one at a time as rows free up.
     *
     * @param longestPrompt no request's prompt is longer (the cache is sized by it; a longer one is an error)
     * @param rows          the samples the feed holds, or more: the cache never gets more slots than this
     */
    public record Feed(Iterator<Request> requests, int longestPrompt, long rows) {
        public Feed {
            if (longestPrompt < 0) throw new IllegalArgumentException("longestPrompt must be >= 0, got " + longestPrompt);
            if (rows < 0) throw new IllegalArgumentException("rows must be >= 0, got " + rows);
        }
    }

    /**
     * Generates every request of {@code feed}, in feed order, handing each completion to
     * {@code onDone} only (none is kept here). Requests are taken from the feed when rows are free
     * (continuously on a {@link SlotBackend}, a wave at a time otherwise), so however long the feed,
     * at most {@code maxRows} rows' decoding state exists. {@code p.n()} is not used: each request
     * names its samples. A request that does not fit is an error when it is reached.
     */
    public void generate(Feed feed, SamplingParams p, AdapterBinding adapter, Consumer<Completion> onDone) throws OrtException {
        checkStopStrings(p);
        if ((long) feed.longestPrompt() + p.maxNewTokens() > maxPositions) {
            throw new IllegalArgumentException("prompts of " + feed.longestPrompt() + " tokens + max_new_tokens " + p.maxNewTokens()
                    + " exceed the model's " + maxPositions + " positions");
        }
        run(feed, p, adapter, onDone);
    }

    private void checkStopStrings(SamplingParams p) {
        if (!p.stopStrings().isEmpty() && tokenizer == null) {
            throw new IllegalArgumentException("stop strings need a tokenizer (the model folder has no tokenizer.json)");
        }
    }

    /** An empty prompt, an id outside the vocabulary, or no room for max_new_tokens is an error naming the prompt. */
    private void check(int prompt, long[] ids, SamplingParams p, int longest) {
        int vocab = backend.descriptor().vocabSize();
        if (ids.length == 0) throw new IllegalArgumentException("prompt " + prompt + " is empty");
        for (long id : ids) {
            if (id < 0 || id >= vocab) throw new IllegalArgumentException("prompt " + prompt + ": token id " + id + " outside [0, " + vocab + ")");
        }
        if ((long) ids.length + p.maxNewTokens() > maxPositions) {
            throw new IllegalArgumentException("prompt " + prompt + ": " + ids.length + " tokens + max_new_tokens " + p.maxNewTokens()
                    + " exceed the model's " + maxPositions + " positions");
        }
        if (ids.length > longest) throw new IllegalArgumentException("prompt " + prompt + ": " + ids.length + " tokens, longer than the feed's " + longest);
    }

    /** The next request of the feed, checked. */
    private Request next(Feed feed, SamplingParams p) {
        Request r = feed.requests().next();
        check(r.prompt(), r.ids(), p, feed.longestPrompt());
        return r;
    }

    private void run(Feed feed, SamplingParams p, AdapterBinding adapter, Consumer<Completion> onDone) throws OrtException {
        stats = new Stats();
        if (backend instanceof SlotBackend slots) {
            new SlotScheduler(slots, feed, p, adapter, onDone).run();
            return;
        }
        // waves of whole requests, at most maxRows rows each (one request alone may have more)
        DecoderBackend waves = (DecoderBackend) backend;
        List<Request> wave = new ArrayList<>();
        int rows = 0;
        while (feed.requests().hasNext()) {
            Request r = next(feed, p);
            if (!wave.isEmpty() && rows + r.samples().length > maxRows) {
                wave(waves, wave, p, adapter, onDone);
                wave.clear();
                rows = 0;
            }
            wave.add(r);
            rows += r.samples().length;
        }
        if (!wave.isEmpty()) wave(waves, wave, p, adapter, onDone);
    }

    /** Per-row decoding state. */
    private static final class Row {
        final int prompt, sample;
        final SplittableRandom rng;
        long[] tokens = new long[16];
        float[] logprobs = new float[16];
        int n;
        long nextPosition;
        FinishReason finish;
        /** The stop strings' watch over this row's text (null without stop strings). */
        StopRules.Watch stopWatch;
        long finishedAtStep = -1;

        Row(int prompt, int sample, long seed, long nextPosition) {
            this.prompt = prompt;
            this.sample = sample;
            this.rng = TokenSampler.streamFor(seed, prompt, sample);
            this.nextPosition = nextPosition;
        }

        void add(long token, float logprob) {
            if (n == tokens.length) {
                tokens = Arrays.copyOf(tokens, n * 2);
                logprobs = Arrays.copyOf(logprobs, n * 2);
            }
            tokens[n] = token;
            logprobs[n++] = logprob;
        }
    }

    private void wave(DecoderBackend backend, List<Request> requests, SamplingParams p, AdapterBinding adapter,
                      Consumer<Completion> onDone) throws OrtException {
        int promptsInWave = requests.size(), vocab = backend.descriptor().vocabSize(), waveRows = 0;
        int maxLen = 0;
        for (Request r : requests) {
            maxLen = Math.max(maxLen, r.ids().length);
            waveRows += r.samples().length;
        }
        long[] ids = new long[promptsInWave * maxLen], mask = new long[promptsInWave * maxLen], pos = new long[promptsInWave * maxLen];
        for (int i = 0; i < promptsInWave; i++) {
            long[] prompt = requests.get(i).ids();
            int pad = maxLen - prompt.length;
            for (int t = 0; t < prompt.length; t++) {
                ids[i * maxLen + pad + t] = prompt[t];
                mask[i * maxLen + pad + t] = 1;
                pos[i * maxLen + pad + t] = t;
            }
        }
        // Prefill: one pass over the wave's prompts, last-position logits only.
        long t0 = System.nanoTime();
        DecoderBackend.Wave kv = backend.prefill(ids, mask, pos, promptsInWave, maxLen, waveRows, p.maxNewTokens(), adapter);
        float[] promptLogits;
        try {
            promptLogits = kv.lastLogits();
            long t1 = System.nanoTime();
            stats.prefillNanos += t1 - t0;
            long[] fanOut = new long[waveRows];
            for (int i = 0, r = 0; i < promptsInWave; i++) for (int k = 0; k < requests.get(i).samples().length; k++) fanOut[r++] = i;
            kv.selectRows(fanOut);
            stats.gatherNanos += System.nanoTime() - t1;
        } catch (OrtException | RuntimeException e) {
            kv.close();
            throw e;
        }
        long ts = System.nanoTime();
        List<Row> rows = new ArrayList<>();
        List<long[]> masks = new ArrayList<>();
        for (int i = 0; i < promptsInWave; i++) {
            Request request = requests.get(i);
            for (int s : request.samples()) {
                Row row = new Row(request.prompt(), s, p.seed(), request.ids().length);
                TokenSampler sampler = samplers.get();
                int token = sampler.sampleWithLogprob(promptLogits, i * vocab, vocab, p, row.rng);
                row.add(token, sampler.lastLogprob());
                rows.add(row);
                masks.add(Arrays.copyOfRange(mask, i * maxLen, (i + 1) * maxLen));
                checkFinished(row, p, onDone);
            }
        }
        stats.samplingNanos += System.nanoTime() - ts;
        stats.tokens += waveRows;
        int length = maxLen;
        try {
            while (true) {
                int finished = 0;
                for (Row r : rows) if (r.finish != null) finished++;
                if (finished == rows.size()) break;
                if (finished > 0 && finished >= Math.max(1, rows.size() / 8)) {
                    // Drop finished rows: gather the live rows' cache into a smaller batch.
                    List<Row> live = new ArrayList<>();
                    List<long[]> liveMasks = new ArrayList<>();
                    long[] keep = new long[rows.size() - finished];
                    int k = 0;
                    for (int r = 0; r < rows.size(); r++) {
                        if (rows.get(r).finish == null) {
                            keep[k++] = r;
                            live.add(rows.get(r));
                            liveMasks.add(masks.get(r));
                        }
                    }
                    long tg = System.nanoTime();
                    kv.selectRows(keep);
                    stats.gatherNanos += System.nanoTime() - tg;
                    rows = live;
                    masks = liveMasks;
                }
                int batch = rows.size();
                long[] stepIds = new long[batch], stepPos = new long[batch], stepMask = new long[batch * (length + 1)];
                for (int r = 0; r < batch; r++) {
                    Row row = rows.get(r);
                    stepIds[r] = row.tokens[row.n - 1];
                    stepPos[r] = row.nextPosition;
                    long[] m = Arrays.copyOf(masks.get(r), length + 1);
                    m[length] = 1;
                    masks.set(r, m);
                    System.arraycopy(m, 0, stepMask, r * (length + 1), length + 1);
                }
                long td = System.nanoTime();
                MemorySegment logits = MemorySegment.ofArray(kv.step(stepIds, stepMask, stepPos, batch, adapter)); // one view per step
                long tsamp = System.nanoTime();
                stats.decodeNanos += tsamp - td;
                stats.decodeSteps++;
                stats.rowSteps += batch;
                length++;
                List<Row> stepRows = rows;
                IntStream.range(0, batch).parallel().forEach(r -> {
                    Row row = stepRows.get(r);
                    row.nextPosition++;
                    if (row.finish != null) return; // awaiting compaction; its output is ignored
                    TokenSampler sampler = samplers.get();
                    int token = sampler.sampleWithLogprob(logits, r * vocab, vocab, p, row.rng);
                    row.add(token, sampler.lastLogprob());
                    checkFinished(row, p, onDone);
                });
                for (Row row : rows) if (row.finish == null || row.finishedAtStep == stats.decodeSteps) stats.tokens++;
                stats.samplingNanos += System.nanoTime() - tsamp;
            }
        } finally {
            kv.close();
        }
    }

    /**
     * Continuous batching over a {@link SlotBackend}: the cache is allocated once for the call
     * ({@code min(maxRows, feed rows)} slots × (longest prompt + max_new_tokens)); requests are
     * taken from the feed in order when slots are free: the prompt is prefilled into one slot and
     * copied to its siblings' slots (prompt positions only). Finished rows leave at once: the last
     * active row moves into the hole (its own cached positions copied), and the next waiting
     * request takes free slots. Each row samples from its own stream (seed, prompt, sample), so a
     * completion does not depend on where or when it ran.
     */
    private final class SlotScheduler {
        private final SlotBackend engine;
        private final Feed feed;
        private final SamplingParams p;
        private final AdapterBinding adapter;
        private final Consumer<Completion> onDone;
        private final int vocab;
        /** The request being placed (null: take the next from the feed) and how many of its samples are placed already. */
        private Request current;
        private int placedSamples;

        SlotScheduler(SlotBackend engine, Feed feed, SamplingParams p, AdapterBinding adapter, Consumer<Completion> onDone) {
            this.engine = engine;
            this.feed = feed;
            this.p = p;
            this.adapter = adapter;
            this.onDone = onDone;
            this.vocab = engine.descriptor().vocabSize();
        }

        private boolean waiting() { return current != null || feed.requests().hasNext(); }

        void run() throws OrtException {
            if (feed.rows() == 0 || !waiting()) return;
            int capacity = (int) Math.min(maxRows, feed.rows());
            Row[] slot = new Row[capacity];
            int active = 0;
            long[] ids = new long[capacity];
            int[] cached = new int[capacity];
            try (SlotBackend.Slots slots = engine.open(capacity, feed.longestPrompt() + p.maxNewTokens())) {
                while (true) {
                    if (scheduling == Scheduling.CONTINUOUS || active == 0) active = fill(slots, slot, active);
                    active = compact(slots, slot, active);
                    if (active == 0) {
                        if (!waiting()) break;
                        continue;
                    }
                    for (int r = 0; r < active; r++) {
                        ids[r] = slot[r].tokens[slot[r].n - 1];
                        cached[r] = (int) slot[r].nextPosition;
                    }
                    long td = System.nanoTime();
                    MemorySegment logits = slots.stepLogits(active, ids, cached, adapter);
                    long ts = System.nanoTime();
                    stats.decodeNanos += ts - td;
                    stats.decodeSteps++;
                    stats.rowSteps += active;
                    Row[] stepRows = slot;
                    IntStream.range(0, active).parallel().forEach(r -> {
                        Row row = stepRows[r];
                        row.nextPosition++;
                        TokenSampler sampler = samplers.get();
                        int token = sampler.sampleWithLogprob(logits, r * vocab, vocab, p, row.rng);
                        row.add(token, sampler.lastLogprob());
                        checkFinished(row, p, onDone);
                    });
                    stats.tokens += active;
                    stats.samplingNanos += System.nanoTime() - ts;
                }
            }
        }

        /**
         * Places waiting requests into the free slots [active, capacity); returns the new active
         * count. The requests placed together are prefilled in one run ({@link SlotBackend#joinsPrefill}):
         * request j's prompt into slot active + j, its other samples' slots copied from it after.
         */
        private int fill(SlotBackend.Slots slots, Row[] slot, int active) throws OrtException {
            while (active < slot.length && waiting()) {
                List<Request> batch = new ArrayList<>();
                List<int[]> placed = new ArrayList<>(); // per request: its first sample placed here, how many
                int free = slot.length - active, width = 0;
                long real = 0;
                while (free > 0 && waiting()) {
                    if (current == null) {
                        current = next(feed, p);
                        placedSamples = 0;
                    }
                    int len = current.ids().length, left = current.samples().length - placedSamples;
                    if (!batch.isEmpty() && (left > free || !SlotBackend.joinsPrefill(batch.size(), width, real, len))) break;
                    int k = Math.min(left, free);
                    batch.add(current);
                    placed.add(new int[]{placedSamples, k});
                    width = Math.max(width, len);
                    real += len;
                    free -= k;
                    placedSamples += k;
                    if (placedSamples < current.samples().length) break; // the slots are full
                    current = null;
                }
                List<long[]> prompts = batch.stream().map(Request::ids).toList();
                long t0 = System.nanoTime();
                MemorySegment logits = slots.prefillLogits(active, prompts, adapter);
                long t1 = System.nanoTime();
                stats.prefillNanos += t1 - t0;
                int[] slotOf = slots.fanOut(active, prompts, placed.stream().mapToInt(pl -> pl[1]).toArray());
                long t2 = System.nanoTime();
                stats.gatherNanos += t2 - t1;
                int n = 0;
                for (int j = 0; j < batch.size(); j++) {
                    Request r = batch.get(j);
                    for (int i = 0; i < placed.get(j)[1]; i++, n++) {
                        Row row = new Row(r.prompt(), r.samples()[placed.get(j)[0] + i], p.seed(), r.ids().length);
                        TokenSampler sampler = samplers.get();
                        int token = sampler.sampleWithLogprob(logits, j * vocab, vocab, p, row.rng);
                        row.add(token, sampler.lastLogprob());
                        checkFinished(row, p, onDone);
                        slot[slotOf[n]] = row;
                    }
                }
                stats.tokens += n;
                stats.samplingNanos += System.nanoTime() - t2;
                active += n;
            }
            return active;
        }

        /** Removes finished rows, moving the last active row into each hole; returns the new active count. */
        private int compact(SlotBackend.Slots slots, Row[] slot, int active) {
            long t0 = System.nanoTime();
            for (int r = 0; r < active; ) {
                if (slot[r].finish == null) {
                    r++;
                    continue;
                }
                int last = active - 1;
                if (last != r && slot[last].finish == null) slots.copy(last, r, (int) slot[last].nextPosition);
                slot[r] = slot[last];
                slot[last] = null;
                active--;
            }
            stats.gatherNanos += System.nanoTime() - t0;
            return active;
        }
    }

    private void checkFinished(Row row, SamplingParams p, Consumer<Completion> onDone) {
        if (row.n == 1) row.stopWatch = StopRules.watch(p, tokenizer);
        StopRules.Finish f = StopRules.check(row.tokens, row.n, eosIds, false, p, tokenizer, row.stopWatch);
        if (f == null) return;
        row.finish = f.reason();
        row.finishedAtStep = stats.decodeSteps;
        Completion c = new Completion(row.prompt, row.sample, Arrays.copyOf(row.tokens, row.n), Arrays.copyOf(row.logprobs, row.n),
                f.text(), row.finish);
        synchronized (this) {
            onDone.accept(c);
        }
    }

    @Override
    public void close() throws OrtException {
        if (ownsBackend) backend.close();
    }
}
