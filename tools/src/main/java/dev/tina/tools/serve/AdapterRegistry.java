package dev.tina.tools.serve;

import dev.tina.export.peft.PeftAdapter;
import dev.tina.runtime.AdapterBinding;
import dev.tina.runtime.LoadedModel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The served models: the base model and the named adapters. Adapters are validated when loaded
 * (PEFT shapes against the model's config, targets against the export's LoRA inputs, rank against
 * {@code --max-lora-rank}) and versioned by a SHA-256 of their two files. At most
 * {@code maxLoras} adapters keep their factors bound at a time; the least recently used one
 * without requests in flight is unbound to make room and bound again from its folder on its next
 * request. All methods synchronise on the registry.
 */
final class AdapterRegistry implements AutoCloseable {
    /** A served model: the base ({@code dir} null) or an adapter. */
    static final class Entry {
        final String name;
        final Path dir;
        String hash;
        int rank;
        AdapterBinding binding;
        /** Identifies the current binding (rows of one group decode in one engine call). */
        long group;
        int inFlight;
        long lastUsed;
        boolean removed;
        final long created = System.currentTimeMillis() / 1000;

        Entry(String name, Path dir) {
            this.name = name;
            this.dir = dir;
        }

        boolean isBase() { return dir == null; }
    }

    /** What a request holds while it runs: the entry and the binding it decodes with. */
    record Lease(Entry entry, AdapterBinding binding, long group, String hash) { }

    private final LoadedModel model;
    private final int maxLoras, maxRank;
    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final Entry base;
    private long nextGroup = 1, clock;

    AdapterRegistry(LoadedModel model, String baseName, String baseHash, int maxLoras, int maxRank) throws Exception {
        if (maxLoras < 1) throw new IllegalArgumentException("--max-loras must be >= 1, got " + maxLoras);
        if (maxRank < 1) throw new IllegalArgumentException("--max-lora-rank must be >= 1, got " + maxRank);
        this.model = model;
        this.maxLoras = maxLoras;
        this.maxRank = maxRank;
        base = new Entry(baseName, null);
        base.binding = model.adapter(null);
        base.group = 0;
        base.hash = baseHash;
        entries.put(baseName, base);
    }

    String baseName() { return base.name; }

    /** Loads and validates an adapter under {@code name}; an error names the adapter and what is wrong. */
    synchronized Entry add(String name, Path dir) throws Exception {
        if (name == null || name.isBlank()) throw new IllegalArgumentException("adapter name must not be empty");
        if (entries.containsKey(name)) throw new IllegalArgumentException("a model named '" + name + "' is already served");
        Entry e = new Entry(name, dir);
        bind(e);
        entries.put(name, e);
        trim();
        return e;
    }

    /** Stops serving {@code name}; requests in flight finish with it, its factors are released after them. */
    synchronized boolean remove(String name) {
        Entry e = entries.get(name);
        if (e == null || e.isBase()) return false;
        entries.remove(name);
        e.removed = true;
        if (e.inFlight == 0) unbind(e);
        return true;
    }

    /** What {@code /v1/models} shows of one served model, read under the registry's lock. */
    record Info(String name, Path dir, String hash, int rank, boolean loaded, long created, int inFlight) {
        boolean isBase() { return dir == null; }
    }

    synchronized List<Info> list() {
        List<Info> out = new ArrayList<>();
        for (Entry e : entries.values()) out.add(new Info(e.name, e.dir, e.hash, e.rank, e.binding != null, e.created, e.inFlight));
        return out;
    }

    /**
     * How long a request waits for an adapter slot when all are busy before it gets 429: a request's
     * slot is freed just after its answer is sent, so a client switching adapters one request after
     * another would otherwise race the previous request's release.
     */
    static final long SLOT_WAIT_MS = 2_000;

    /** Null when no model of that name is served. Throws {@link ApiException} 429 when every adapter slot stays busy. */
    synchronized Lease acquire(String name) throws Exception {
        Entry e = entries.get(name);
        if (e == null) return null;
        if (e.binding == null) {
            long deadline = System.nanoTime() + SLOT_WAIT_MS * 1_000_000L;
            while (e.binding == null && bound() >= maxLoras && !evictOne()) {
                long left = (deadline - System.nanoTime()) / 1_000_000L;
                if (left <= 0) {
                    throw new ApiException(429, "rate_limit_error", "model", "too_many_adapters",
                            "all " + maxLoras + " adapter slots (--max-loras) have requests in flight; retry later");
                }
                wait(left); // release() notifies
            }
            if (e.removed) return null; // unloaded while this request waited
        }
        if (e.binding == null) {
            try {
                bind(e);
            } catch (Exception err) {
                // its folder changed or vanished since it was validated
                throw new ApiException(500, "server_error", "model", "adapter_unavailable",
                        "adapter '" + name + "' could not be bound again from " + e.dir + ": " + err.getMessage());
            }
        }
        e.inFlight++;
        e.lastUsed = ++clock;
        return new Lease(e, e.binding, e.group, e.hash);
    }

    synchronized void release(Lease lease) {
        Entry e = lease.entry();
        e.inFlight--;
        if (e.removed && e.inFlight == 0) unbind(e);
        notifyAll(); // a request may be waiting for an adapter slot
    }

    private int bound() {
        int n = 0;
        for (Entry e : entries.values()) if (!e.isBase() && e.binding != null) n++;
        return n;
    }

    /** Unbinds the least recently used adapter with nothing in flight; false when there is none. */
    private boolean evictOne() {
        Entry victim = null;
        for (Entry e : entries.values()) {
            if (e.isBase() || e.binding == null || e.inFlight > 0) continue;
            if (victim == null || e.lastUsed < victim.lastUsed) victim = e;
        }
        if (victim == null) return false;
        unbind(victim);
        return true;
    }

    private void trim() {
        while (bound() > maxLoras && evictOne()) { }
    }

    private void bind(Entry e) throws Exception {
        String hash = contentHash(e.dir);
        PeftAdapter adapter = PeftAdapter.read(e.dir, model.config());
        int r = adapter.config().r();
        if (r > maxRank) {
            throw new IllegalArgumentException("adapter '" + e.name + "' (" + e.dir + ") has rank " + r + ", over --max-lora-rank " + maxRank);
        }
        e.binding = AdapterBinding.of(model.decoder().environment(), model.decoder().descriptor(), adapter);
        e.rank = r;
        e.hash = hash;
        e.group = nextGroup++;
    }

    private static void unbind(Entry e) {
        if (e.binding != null) e.binding.close();
        e.binding = null;
    }

    /** SHA-256 over the adapter's config and weights, the adapter's version. */
    static String contentHash(Path dir) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String f : List.of("adapter_config.json", "adapter_model.safetensors")) {
                Path p = dir.resolve(f);
                if (!Files.isRegularFile(p)) throw new IllegalArgumentException(dir + ": no " + f + " (not a PEFT adapter folder)");
                byte[] buf = new byte[1 << 16];
                try (InputStream in = Files.newInputStream(p)) {
                    for (int k; (k = in.read(buf)) > 0; ) md.update(buf, 0, k);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public synchronized void close() {
        for (Entry e : entries.values()) unbind(e);
    }
}
