package dev.tina.eval.run;

import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;
import dev.tina.runtime.sampling.BatchSampler;
import dev.tina.runtime.sampling.Completion;
import dev.tina.runtime.sampling.SamplingParams;
import dev.tina.runtime.sampling.TokenSampler;
import dev.tina.runtime.text.ChatMessage;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The real {@link Generator}: prompts through the model's chat template and {@link BatchSampler}. Continuously
 * (the default) every pending (problem, sample) of a call goes through one sampler call fed by an iterator: a
 * prompt is encoded only when a row is free for it, and a finished row's slot is taken at once by the next
 * sample, across benchmarks, so the rows drain once per call, not once per wave. Each request carries its run
 * index, so sample (i, s) draws stream (seed, i, s) wherever and whenever it runs.
 *
 * <p>{@link BatchSampler.Scheduling#WAVES} keeps the earlier way as a baseline: a call per wave of
 * {@code rows / n} prompts, each call's prompt 0 drawing run prompt {@code first}'s streams through a shifted
 * seed ({@link #shiftedSeed}). That relies on how {@link TokenSampler#streamFor} mixes its inputs, so it is
 * checked against it when this class loads; if the mixing ever changes, waves fall back to one call from run
 * index 0, slower but still exact.
 */
public final class SamplerGenerator implements Generator {
    private static final long A = 0x9E3779B97F4A7C15L, B = 0xC2B2AE3D27D4EB4FL;
    /** Whether {@link #shiftedSeed} reproduces the sampler's streams (checked, never assumed). */
    public static final boolean SEEDS_SHIFT = checkShift();

    private final LoadedModel model;
    private final BatchSampler sampler;
    private final AdapterBinding adapter;
    private final SamplingParams params;
    private final boolean chat;
    private final String system;
    private final int rows;
    private final BatchSampler.Scheduling scheduling;
    /** The sampler's time and counts over this generator's calls. */
    private final BatchSampler.Stats spent = new BatchSampler.Stats();

    /**
     * Continuous scheduling.
     *
     * @param adapter owned: closed with this generator
     * @param params  everything but {@code n}, which each call sets
     */
    public SamplerGenerator(LoadedModel model, BatchSampler sampler, AdapterBinding adapter, SamplingParams params, boolean chat, String system, int rows) {
        this(model, sampler, adapter, params, chat, system, rows, BatchSampler.Scheduling.CONTINUOUS);
    }

    /** As above; {@code scheduling} WAVES is the earlier wave-per-call path (a benchmark baseline). */
    public SamplerGenerator(LoadedModel model, BatchSampler sampler, AdapterBinding adapter, SamplingParams params, boolean chat, String system, int rows,
                            BatchSampler.Scheduling scheduling) {
        if (model.tokenizer().isEmpty()) throw new IllegalArgumentException(model.exportDir() + ": the model has no tokenizer.json; eval needs text prompts");
        if (chat && model.chatTemplate().isEmpty()) {
            throw new IllegalArgumentException(model.exportDir() + ": chat prompting (the default) needs a chat template (tokenizer_config.json "
                    + "'chat_template') and the model has none; pass --no-chat to prompt with the raw text");
        }
        this.model = model;
        this.sampler = sampler;
        this.adapter = adapter;
        this.params = params;
        this.chat = chat;
        this.system = system;
        this.rows = rows;
        this.scheduling = scheduling;
    }

    @Override
    public String render(String message) {
        if (!chat) return message;
        List<ChatMessage> msgs = system == null ? List.of(ChatMessage.user(message)) : List.of(ChatMessage.system(system), ChatMessage.user(message));
        return model.chatTemplate().orElseThrow().render(msgs, true);
    }

    @Override
    public int promptTokens(String message) { return model.encodePrompt(message, chat, system).length; }

    @Override
    public int contextLength() { return model.maxPositions(); }

    @Override
    public void generate(List<String> messages, List<Pending> todo, int n, Consumer<Generated> onDone) throws Exception {
        if (todo.isEmpty()) return;
        if (scheduling == BatchSampler.Scheduling.WAVES) {
            waves(messages, todo, n, onDone);
            return;
        }
        int longest = 0;
        for (Pending p : todo) longest = Math.max(longest, promptTokens(messages.get(p.index())));
        Iterator<BatchSampler.Request> requests = todo.stream()
                .map(p -> new BatchSampler.Request(p.index(), encode(messages.get(p.index())), p.samples())).iterator();
        try {
            sampler.generate(new BatchSampler.Feed(requests, longest, Pending.rows(todo)), params.withN(n), adapter, c -> onDone.accept(generated(0, c)));
        } finally {
            spent.add(sampler.lastStats());
        }
    }

    /** Where the sampler's time went over every call of this generator so far (decode steps, rows, seconds). */
    public BatchSampler.Stats stats() {
        BatchSampler.Stats copy = new BatchSampler.Stats();
        copy.add(spent);
        return copy;
    }

    /** The wave-per-call baseline over the run indices [first pending, last pending]; samples not pending are not handed on. */
    private void waves(List<String> messages, List<Pending> todo, int n, Consumer<Generated> onDone) throws Exception {
        int from = todo.getFirst().index(), to = todo.getLast().index() + 1;
        Set<Long> wanted = new HashSet<>();
        for (Pending p : todo) for (int s : p.samples()) wanted.add((long) p.index() * n + s);
        Consumer<Generated> pendingOnly = g -> {
            if (wanted.contains((long) g.index() * n + g.sample())) onDone.accept(g);
        };
        if (!SEEDS_SHIFT) {
            try {
                sampler.generate(encode(messages, 0, to), params.withN(n), adapter, c -> {
                    if (c.promptIndex() >= from) pendingOnly.accept(generated(0, c));
                });
            } finally {
                spent.add(sampler.lastStats());
            }
            return;
        }
        int perWave = Math.max(1, rows / n);
        for (int start = from; start < to; start += perWave) {
            int first = start;
            try {
                sampler.generate(encode(messages, start, Math.min(to, start + perWave)), params.withN(n).withSeed(shiftedSeed(params.seed(), first)),
                        adapter, c -> pendingOnly.accept(generated(first, c)));
            } finally {
                spent.add(sampler.lastStats());
            }
        }
    }

    private long[] encode(String message) { return model.encodePrompt(message, chat, system); }

    private List<long[]> encode(List<String> messages, int from, int to) {
        List<long[]> ids = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) ids.add(encode(messages.get(i)));
        return ids;
    }

    private static Generated generated(int first, Completion c) {
        return new Generated(first + c.promptIndex(), c.sampleIndex(), c.text() == null ? "" : c.text(), c.tokenIds().length, c.finishReason().wire());
    }

    /**
     * The seed under which a call's prompt i draws the stream of run prompt {@code first + i}: streams are seeded
     * with {@code seed·A + (prompt+1)·B + (sample+1)·C} (mod 2^64), and A is odd, hence invertible.
     */
    public static long shiftedSeed(long seed, int first) {
        return seed + (long) first * B * inverse(A);
    }

    /** The inverse of an odd number mod 2^64 (Newton's iteration doubles the correct bits each step). */
    static long inverse(long a) {
        long x = a;
        for (int i = 0; i < 6; i++) x *= 2 - a * x;
        return x;
    }

    private static boolean checkShift() {
        long[][] probes = {{42, 0, 0, 0}, {42, 17, 3, 5}, {-7, 1000, 63, 0}, {0, 1, 0, 15}, {Long.MAX_VALUE, 123456, 9, 2}};
        for (long[] p : probes) {
            long seed = p[0];
            int first = (int) p[1], i = (int) p[2], s = (int) p[3];
            if (TokenSampler.streamFor(shiftedSeed(seed, first), i, s).nextLong() != TokenSampler.streamFor(seed, first + i, s).nextLong()) return false;
        }
        return true;
    }

    @Override
    public void close() { adapter.close(); }
}
