package dev.tina.runtime.sampling;

import ai.onnxruntime.OrtException;
import dev.tina.runtime.AdapterBinding;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

/**
 * An engine whose KV cache is a fixed number of slots allocated once at their final length and
 * written in place, so that {@link BatchSampler} can batch continuously: a finished row's slot is
 * taken by a waiting request (prefilled into it and joined to the running batch), and rows are
 * moved only one at a time, never the whole cache. The active rows are always the slots
 * {@code [0, active)}.
 */
public non-sealed interface SlotBackend extends Engine {
    /**
     * The most padded tokens one prefill of several prompts runs: enough to spread a run's fixed
     * cost over many short prompts, while the run's activations stay small (at the 1.5B shape its
     * [tokens, 8,960] MLP activation is 73 MB).
     */
    int MAX_PREFILL_TOKENS = 2048;

    /**
     * Whether a prompt of {@code length} tokens joins a prefill of {@code count} prompts padded to
     * {@code width} holding {@code real} tokens: at most a quarter of the padded run is padding, at
     * most {@link #MAX_PREFILL_TOKENS} tokens. Short prompts gain most from sharing a run (each
     * run has a fixed cost); long ones are compute-bound, and padding them would waste it.
     */
    static boolean joinsPrefill(int count, int width, long real, int length) {
        long padded = (long) (count + 1) * Math.max(width, length);
        return padded <= MAX_PREFILL_TOKENS && 4 * padded <= 5 * (real + length);
    }

    /** Allocates {@code slots} cache rows of {@code maxLength} positions each. */
    Slots open(int slots, int maxLength) throws OrtException;

    /** One allocation of slots; owns the cache buffers. */
    interface Slots extends AutoCloseable {
        int capacity();

        int maxLength();

        /**
         * Runs {@code prompt} into slot {@code slot} (cache positions [0, prompt.length), whatever
         * the slot held) and returns the [vocab] logits at its last position (an array the next
         * prefill or step may overwrite).
         */
        float[] prefill(int slot, long[] prompt, AdapterBinding adapter) throws OrtException;

        /**
         * As {@link #prefill}, the logits as a segment of floats: engines that own their output
         * buffer hand it over without a copy (it holds until the next prefill or step).
         */
        default MemorySegment prefillLogits(int slot, long[] prompt, AdapterBinding adapter) throws OrtException {
            return MemorySegment.ofArray(prefill(slot, prompt, adapter));
        }

        /**
         * Runs {@code prompts.get(j)} into slot {@code first + j} for every j and returns their
         * [prompts, vocab] last-position logits (a buffer the next prefill or step may overwrite).
         * Each row's logits and cache are those a {@link #prefillLogits(int, long[], AdapterBinding)}
         * of its prompt alone gives; an engine that can runs them as one call (right-padded to the
         * longest), which on a small model costs about what one prompt alone does.
         */
        default MemorySegment prefillLogits(int first, List<long[]> prompts, AdapterBinding adapter) throws OrtException {
            if (prompts.size() == 1) return prefillLogits(first, prompts.getFirst(), adapter);
            MemorySegment all = null;
            for (int j = 0; j < prompts.size(); j++) {
                MemorySegment one = prefillLogits(first + j, prompts.get(j), adapter);
                if (all == null) all = MemorySegment.ofArray(new float[(int) (one.byteSize() / Float.BYTES) * prompts.size()]);
                MemorySegment.copy(one, 0, all, j * one.byteSize(), one.byteSize());
            }
            return all;
        }

        /**
         * After {@link #prefillLogits(int, List, AdapterBinding)} of {@code prompts} into slots
         * [first, first + prompts): copies each prompt's cache to the slots of its other samples,
         * taken in order from first + prompts, and returns every sample's slot, prompt by prompt
         * ({@code samples[j]} of prompt j; its first stays in first + j, with row j of the logits).
         */
        default int[] fanOut(int first, List<long[]> prompts, int[] samples) {
            int[] at = new int[Arrays.stream(samples).sum()];
            int extra = first + prompts.size(), n = 0;
            for (int j = 0; j < prompts.size(); j++) {
                for (int i = 0; i < samples[j]; i++, n++) {
                    at[n] = i == 0 ? first + j : extra++;
                    if (i > 0) copy(first + j, at[n], prompts.get(j).length);
                }
            }
            return at;
        }

        /** Copies cache positions [0, length) of slot {@code from} to slot {@code to} (fan-out, compaction). */
        void copy(int from, int to, int length);

        /**
         * Appends one token to each of the slots [0, active): {@code ids[r]} at position
         * {@code cached[r]} (= the tokens slot r holds). Returns the [active, vocab] logits, in an
         * array the next prefill or step may overwrite.
         */
        float[] step(int active, long[] ids, int[] cached, AdapterBinding adapter) throws OrtException;

        /** As {@link #step}, the [active, vocab] logits as a segment of floats, as {@link #prefillLogits}. */
        default MemorySegment stepLogits(int active, long[] ids, int[] cached, AdapterBinding adapter) throws OrtException {
            return MemorySegment.ofArray(step(active, ids, cached, adapter));
        }

        /**
         * As {@link #step}, over the slots [first, first + count) only, {@code ids[r]} and
         * {@code cached[r]} for slot first + r: a server decodes each adapter's rows as one group.
         */
        float[] step(int first, int count, long[] ids, int[] cached, AdapterBinding adapter) throws OrtException;

        @Override
        void close();
    }
}
