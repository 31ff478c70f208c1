package dev.tina.tools.serve;

import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.FinishReason;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.runtime.sampling.StopRules;
import dev.tina.runtime.sampling.SlotBackend;
import dev.tina.runtime.sampling.TokenSampler;
import dev.tina.runtime.text.HfTokenizer;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.IntStream;

/**
 * Continuous batching over live requests: the CPU slot engine ({@link SlotBackend}) fed by a
 * bounded queue instead of a list. One thread owns the KV cache slots; a request (a prompt, its
 * sampling parameters, its adapter and n samples) is prefilled once into a free slot, copied to
 * its siblings' slots, and joins the running batch. Rows of different adapters decode in the same
 * step: in one engine call with a per-row LoRA scale ({@link MixedLora}), or (grouped mode) kept
 * ordered by adapter and decoded as one call per adapter present. Each
 * sample draws from its own stream seeded by (seed, 0, sample), as {@code tina generate} does for
 * one prompt, so a completion does not depend on what else is running. A cancelled request's rows
 * leave the batch before the next step.
 */
final class LiveBatcher implements AutoCloseable {
    /** What a request hears; called on the batcher's threads, so implementations must be thread-safe and quick. */
    interface Listener {
        /** A sampled token of sample {@code sample}; {@code top} only when top log-probs were asked for. */
        void token(int sample, long id, float logprob, Top top);

        void finished(int sample, Completion c);

        /** The request failed (engine error, shutdown); no more events follow except {@link #closed}. */
        void failed(String message);

        /** The request has left the batcher (finished, cancelled or failed): called exactly once. */
        void closed();
    }

    /** The k most likely tokens at one position and their log-probabilities (unscaled distribution). */
    record Top(long[] ids, float[] logprobs) { }

    /** One request: its rows share the prompt's prefill; {@code group} identifies its adapter binding. */
    static final class Job {
        final long[] prompt;
        final SamplingParams params;
        final AdapterBinding binding;
        final long group;
        final int topLogprobs;
        /** vLLM's ignore_eos: only max tokens and stop strings end a sample (benchmarks with fixed lengths). */
        final boolean ignoreEos;
        final Listener listener;
        private volatile boolean cancelled, failed;
        private final AtomicBoolean closed = new AtomicBoolean();
        /** Scheduler thread only. */
        private int placed, liveRows;

        Job(long[] prompt, SamplingParams params, AdapterBinding binding, long group, int topLogprobs, boolean ignoreEos, Listener listener) {
            if (prompt.length == 0) throw new IllegalArgumentException("empty prompt");
            this.prompt = prompt;
            this.params = params;
            this.binding = binding;
            this.group = group;
            this.topLogprobs = topLogprobs;
            this.ignoreEos = ignoreEos;
            this.listener = listener;
        }

        boolean dead() { return cancelled || failed; }

        private void close(LiveBatcher owner) {
            if (closed.compareAndSet(false, true)) {
                listener.closed();
                owner.jobs.decrementAndGet(); // after the listener: idle means its metrics are final
            }
        }
    }

    private static final class Row {
        final Job job;
        final int sample;
        final SplittableRandom rng;
        long[] tokens = new long[16];
        float[] logprobs = new float[16];
        int n;
        long nextPosition;
        FinishReason finish;
        /** The stop strings' watch over this row's text (null without stop strings). */
        StopRules.Watch stopWatch;

        Row(Job job, int sample) {
            this.job = job;
            this.sample = sample;
            this.rng = TokenSampler.streamFor(job.params.seed(), 0, sample);
            this.nextPosition = job.prompt.length;
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

    private final SlotBackend.Slots slots;
    /** Rows of all adapters in one call (per-row LoRA scale), or null: one call per adapter group. */
    private final MixedLora mixed;
    private final HfTokenizer tokenizer;
    private final Set<Long> eosIds;
    private final int vocab, capacity, scratch;
    private final ArrayBlockingQueue<Job> waiting;
    private final Row[] slot;
    private final ThreadLocal<TokenSampler> samplers = ThreadLocal.withInitial(TokenSampler::new);
    private final Thread thread;
    private volatile boolean closing;
    /** The request being placed (some of its samples may wait for free slots). */
    private Job current;
    private int active;
    private volatile int activeRows;
    private volatile long steps, calls, mixedSteps;
    private final AtomicInteger jobs = new AtomicInteger();

    /**
     * Takes ownership of {@code slots} and {@code mixed}: the slots but the last decode together,
     * the last is scratch space for reordering rows by adapter (grouped mode).
     */
    LiveBatcher(SlotBackend.Slots slots, MixedLora mixed, HfTokenizer tokenizer, Set<Long> eosIds, int vocab, int maxQueue) {
        if (slots.capacity() < 2) throw new IllegalArgumentException("need >= 2 slots (one is scratch), got " + slots.capacity());
        if (maxQueue < 1) throw new IllegalArgumentException("max-queue must be >= 1, got " + maxQueue);
        this.slots = slots;
        this.mixed = mixed;
        this.tokenizer = tokenizer;
        this.eosIds = Set.copyOf(eosIds);
        this.vocab = vocab;
        this.capacity = slots.capacity() - 1;
        this.scratch = capacity;
        this.slot = new Row[capacity];
        this.waiting = new ArrayBlockingQueue<>(maxQueue);
        this.thread = Thread.ofPlatform().name("tina-serve-batcher").daemon().start(this::loop);
    }

    /** Queues the job; false when the queue is full (the caller answers 429). */
    boolean submit(Job job) {
        if (closing) return false;
        jobs.incrementAndGet();
        if (waiting.offer(job)) return true;
        jobs.decrementAndGet();
        return false;
    }

    /** Requests submitted and not yet closed (queued, being placed or decoding): 0 when idle. */
    int jobs() { return jobs.get(); }

    /** Stops the job's rows before the next step (a client that went away). */
    void cancel(Job job) {
        job.cancelled = true;
        if (waiting.remove(job)) job.close(this);
    }

    int queued() { return waiting.size(); }

    int activeRows() { return activeRows; }

    int capacity() { return capacity; }

    /** Decode steps, ONNX Runtime calls, and steps whose rows belonged to more than one model (base or adapters), so far. */
    Counts counts() { return new Counts(steps, calls, mixedSteps); }

    /** See {@link #counts()}. */
    record Counts(long steps, long calls, long mixedSteps) { }

    private boolean severalModels() {
        for (int r = 1; r < active; r++) if (slot[r].job.group != slot[0].job.group) return true;
        return false;
    }

    /** How long a request arriving at an idle engine waits for others (at most), and how long a quiet gap ends the wait. */
    static final long BURST_NANOS = 3_000_000, QUIET_NANOS = 400_000;

    /**
     * A request that finds the engine idle rarely comes alone when clients start together: they
     * arrive a few hundred microseconds apart. Waiting while they keep coming (until a quiet gap
     * of {@link #QUIET_NANOS}, at most {@link #BURST_NANOS}) lets one prefill take them all
     * instead of one run per arrival; a lone request waits one quiet gap.
     */
    private void gatherBurst() {
        long end = System.nanoTime() + BURST_NANOS;
        int seen = waiting.size();
        while (seen + 1 < capacity && System.nanoTime() < end) {
            LockSupport.parkNanos(QUIET_NANOS);
            int now = waiting.size();
            if (now == seen) return;
            seen = now;
        }
    }

    private void loop() {
        while (!closing) {
            try {
                if (active == 0 && current == null) {
                    current = waiting.poll(50, TimeUnit.MILLISECONDS);
                    if (current == null) continue;
                    gatherBurst();
                }
                fill();
                compact();
                activeRows = active;
                if (active == 0) continue;
                if (severalModels()) mixedSteps++;
                if (mixed == null) {
                    orderByAdapter();
                    step();
                } else {
                    stepMixed();
                }
                compact();
                activeRows = active;
            } catch (InterruptedException e) {
                break;
            } catch (Throwable t) {
                // An engine failure fails the requests in flight, not the server.
                System.err.println("tina serve: decoding failed: " + t);
                failAll("decoding failed: " + t.getMessage());
            }
        }
        failAll("the server is shutting down");
        Job j;
        while ((j = waiting.poll()) != null) {
            j.failed = true;
            j.listener.failed("the server is shutting down");
            j.close(this);
        }
    }

    private void failAll(String message) {
        Job placing = current;
        current = null;
        for (int r = 0; r < active; r++) fail(slot[r].job, message);
        for (int r = 0; r < active; r++) {
            slot[r].job.liveRows--;
            maybeClose(slot[r].job);
            slot[r] = null;
        }
        active = 0;
        activeRows = 0;
        if (placing != null) {
            fail(placing, message);
            maybeClose(placing);
        }
    }

    private void fail(Job job, String message) {
        if (job.dead()) return;
        job.failed = true;
        job.listener.failed(message);
    }

    private void maybeClose(Job job) {
        if (job.liveRows == 0 && (job.placed == job.params.n() || job.dead()) && job != current) job.close(this);
    }

    /**
     * Places waiting requests into free slots, in the order they came: the requests that fit are
     * taken, then prefilled one run per adapter ({@link SlotBackend#joinsPrefill} splits a run
     * whose padding would grow too large): request j's prompt into slot active + j, its other
     * samples' slots copied from it after.
     */
    private void fill() {
        if (current != null && current.dead()) {
            Job gone = current;
            current = null;
            maybeClose(gone);
        }
        while (active < capacity) {
            List<Job> taken = new ArrayList<>();
            List<Integer> counts = new ArrayList<>();
            int free = capacity - active;
            while (free > 0) {
                if (current == null) {
                    current = waiting.poll();
                    if (current == null) break;
                }
                Job job = current;
                if (job.dead()) {
                    current = null;
                    maybeClose(job);
                    continue;
                }
                int left = job.params.n() - job.placed, k = Math.min(left, free);
                taken.add(job);
                counts.add(k);
                free -= k;
                if (k < left) break; // the slots are full: the rest of its samples later
                current = null;
            }
            if (taken.isEmpty()) return;
            boolean[] done = new boolean[taken.size()];
            for (int a = 0; a < taken.size(); a++) {
                if (done[a]) continue;
                // the requests for this adapter, in order, while the padding rule lets them share a run
                List<Job> batch = new ArrayList<>();
                List<Integer> rows = new ArrayList<>();
                int width = 0;
                long real = 0;
                for (int b = a; b < taken.size(); b++) {
                    Job job = taken.get(b);
                    if (done[b] || job.group != taken.get(a).group) continue;
                    int len = job.prompt.length;
                    if (!batch.isEmpty() && !SlotBackend.joinsPrefill(batch.size(), width, real, len)) continue;
                    batch.add(job);
                    rows.add(counts.get(b));
                    width = Math.max(width, len);
                    real += len;
                    done[b] = true;
                }
                place(batch, rows);
            }
        }
    }

    /** Prefills {@code batch} (one adapter) in one run and places {@code rows.get(j)} samples of request j. */
    private void place(List<Job> batch, List<Integer> rows) {
        Job first = batch.getFirst();
        List<long[]> prompts = batch.stream().map(j -> j.prompt).toList();
        MemorySegment logits;
        try {
            if (mixed == null) {
                logits = slots.prefillLogits(active, prompts, first.binding);
            } else {
                // one adapter for all these rows: its one row of scales broadcasts over their tokens
                try (AdapterBinding one = mixed.forRows(new AdapterBinding[]{first.binding}, new long[]{first.group}, 1)) {
                    logits = slots.prefillLogits(active, prompts, one);
                }
            }
        } catch (Exception e) {
            for (Job job : batch) {
                fail(job, "prefill failed: " + e.getMessage());
                if (job == current) current = null;
                maybeClose(job);
            }
            return;
        }
        int[] at = slots.fanOut(active, prompts, rows.stream().mapToInt(Integer::intValue).toArray());
        int n = 0;
        for (int j = 0; j < batch.size(); j++) {
            Job job = batch.get(j);
            for (int i = 0; i < rows.get(j); i++, n++) {
                Row row = new Row(job, job.placed + i);
                sample(row, logits, (long) j * vocab);
                slot[at[n]] = row;
            }
            job.liveRows += rows.get(j);
            job.placed += rows.get(j);
        }
        active += n;
    }

    /** Removes finished and cancelled rows, moving the last active row into each hole. */
    private void compact() {
        for (int r = 0; r < active; ) {
            Row row = slot[r];
            if (row.finish == null && !row.job.dead()) {
                r++;
                continue;
            }
            int last = active - 1;
            if (last != r) slots.copy(last, r, (int) slot[last].nextPosition);
            slot[r] = slot[last];
            slot[last] = null;
            active--;
            row.job.liveRows--;
            maybeClose(row.job);
        }
    }

    /** Sorts the active rows by adapter group (stable), moving cache contents through the scratch slot. */
    private void orderByAdapter() {
        boolean sorted = true;
        for (int r = 1; r < active && sorted; r++) sorted = slot[r - 1].job.group <= slot[r].job.group;
        if (sorted) return;
        Row[] old = Arrays.copyOf(slot, active);
        Integer[] src = new Integer[active];
        for (int i = 0; i < active; i++) src[i] = i;
        Arrays.sort(src, (a, b) -> Long.compare(old[a].job.group, old[b].job.group));
        boolean[] done = new boolean[active];
        for (int i = 0; i < active; i++) {
            if (done[i]) continue;
            if (src[i] == i) {
                done[i] = true;
                continue;
            }
            // the cycle i ← src[i] ← src[src[i]] … ← i: park slot i, shift the others, restore it
            slots.copy(i, scratch, (int) old[i].nextPosition);
            int j = i;
            while (true) {
                done[j] = true;
                int s = src[j];
                if (s == i) {
                    slots.copy(scratch, j, (int) old[i].nextPosition);
                    break;
                }
                slots.copy(s, j, (int) old[s].nextPosition);
                j = s;
            }
        }
        for (int i = 0; i < active; i++) slot[i] = old[src[i]];
    }

    /** One decode step: one engine call per adapter group, each row sampled with its own parameters. */
    private void step() throws Exception {
        long[] ids = new long[active];
        int[] cached = new int[active];
        for (int start = 0; start < active; ) {
            Job first = slot[start].job;
            int end = start;
            while (end < active && slot[end].job.group == first.group) end++;
            int count = end - start;
            for (int r = 0; r < count; r++) {
                ids[r] = slot[start + r].tokens[slot[start + r].n - 1];
                cached[r] = (int) slot[start + r].nextPosition;
            }
            MemorySegment logits;
            try {
                logits = MemorySegment.ofArray(slots.step(start, count, ids, cached, first.binding));
            } catch (Exception e) {
                for (int r = start; r < end; r++) fail(slot[r].job, "decoding failed: " + e.getMessage());
                start = end;
                continue;
            }
            calls++;
            int base = start;
            IntStream.range(0, count).parallel().forEach(r -> {
                Row row = slot[base + r];
                row.nextPosition++;
                sample(row, logits, (long) r * vocab);
            });
            start = end;
        }
        steps++;
    }

    /** One decode step of all active rows in one engine call, each row's scale on its own adapter's columns. */
    private void stepMixed() throws Exception {
        long[] ids = new long[active], groups = new long[active];
        int[] cached = new int[active];
        AdapterBinding[] bindings = new AdapterBinding[active];
        for (int r = 0; r < active; r++) {
            ids[r] = slot[r].tokens[slot[r].n - 1];
            cached[r] = (int) slot[r].nextPosition;
            bindings[r] = slot[r].job.binding;
            groups[r] = slot[r].job.group;
        }
        MemorySegment logits; // where the engine wrote them: no copy of [rows, vocab] floats per step
        try (AdapterBinding rows = mixed.forRows(bindings, groups, active)) {
            logits = slots.stepLogits(active, ids, cached, rows);
        } catch (Exception e) {
            for (int r = 0; r < active; r++) fail(slot[r].job, "decoding failed: " + e.getMessage());
            return;
        }
        calls++;
        IntStream.range(0, active).parallel().forEach(r -> {
            Row row = slot[r];
            row.nextPosition++;
            sample(row, logits, (long) r * vocab);
        });
        steps++;
    }

    private void sample(Row row, MemorySegment logits, long offset) {
        Job job = row.job;
        if (job.dead()) return;
        TokenSampler sampler = samplers.get();
        int token = sampler.sampleWithLogprob(logits, offset, vocab, job.params, row.rng);
        float lp = sampler.lastLogprob();
        row.add(token, lp);
        job.listener.token(row.sample, token, lp, job.topLogprobs > 0 ? top(logits, offset, vocab, job.topLogprobs) : null);
        checkFinished(row);
    }

    /** The k largest log-softmax values of one row of logits ({@code offset} in floats), most likely first. */
    static Top top(MemorySegment logits, long offset, int vocab, int k) {
        k = Math.min(k, vocab);
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits.getAtIndex(ValueLayout.JAVA_FLOAT, offset + i));
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp(logits.getAtIndex(ValueLayout.JAVA_FLOAT, offset + i) - max);
        double lse = max + Math.log(sum);
        long[] ids = new long[k];
        float[] vals = new float[k];
        Arrays.fill(vals, Float.NEGATIVE_INFINITY);
        Arrays.fill(ids, -1);
        for (int i = 0; i < vocab; i++) {
            float v = logits.getAtIndex(ValueLayout.JAVA_FLOAT, offset + i);
            if (v <= vals[k - 1] && ids[k - 1] >= 0) continue;
            int at = k - 1;
            while (at > 0 && (ids[at - 1] < 0 || vals[at - 1] < v)) {
                vals[at] = vals[at - 1];
                ids[at] = ids[at - 1];
                at--;
            }
            vals[at] = v;
            ids[at] = i;
        }
        for (int i = 0; i < k; i++) vals[i] = (float) (vals[i] - lse);
        return new Top(ids, vals);
    }

    /** The stop rules of {@code BatchSampler} ({@link StopRules}), with the request's ignore_eos. */
    private void checkFinished(Row row) {
        if (row.n == 1) row.stopWatch = StopRules.watch(row.job.params, tokenizer);
        StopRules.Finish f = StopRules.check(row.tokens, row.n, eosIds, row.job.ignoreEos, row.job.params, tokenizer, row.stopWatch);
        if (f == null) return;
        row.finish = f.reason();
        row.job.listener.finished(row.sample, new Completion(0, row.sample, Arrays.copyOf(row.tokens, row.n),
                Arrays.copyOf(row.logprobs, row.n), f.text(), row.finish));
    }

    @Override
    public void close() {
        closing = true;
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        slots.close();
        if (mixed != null) {
            try {
                mixed.close();
            } catch (Exception e) {
                System.err.println("tina serve: closing the mixed-LoRA session: " + e);
            }
        }
    }
}
